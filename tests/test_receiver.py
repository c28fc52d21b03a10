"""SenderTrack: in-order decoding, small reorder window, duplicates, wrap-around, concealment."""
import numpy as np

from client.receiver import SenderTrack
from codec.registry import get_codec

CODEC = get_codec("codec2-3200")


def _payloads(n: int) -> list[bytes]:
    rng = np.random.default_rng(1)
    enc = CODEC.encoder()
    t = np.arange(n * CODEC.frame_samples) / CODEC.sample_rate
    pcm = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.1 * rng.standard_normal(len(t)))).astype(np.float32)
    return [enc.encode(f) for f in pcm.reshape(n, CODEC.frame_samples)]


def test_in_order_frames_decode_immediately():
    track = SenderTrack(CODEC)
    frames = _payloads(5)
    outs = [len(track.push(i, p)) for i, p in enumerate(frames)]
    assert outs == [1] * 5
    assert len(track.audio()) == 5 * CODEC.frame_samples
    assert track.stats.concealed == 0 and track.stats.received == 5


def test_reordered_frames_wait_and_play_in_order():
    frames = _payloads(6)
    in_order, shuffled = SenderTrack(CODEC), SenderTrack(CODEC)
    for i, p in enumerate(frames):
        in_order.push(i, p)
    for i in (0, 2, 1, 4, 3, 5):
        shuffled.push(i, frames[i])
    # Codec2's synthesis draws random phases, so two decoders agree only closely.
    assert np.abs(in_order.audio() - shuffled.audio()).max() < 0.01
    assert shuffled.stats.concealed == 0


def test_gaps_are_concealed_once_the_window_passes_and_late_frames_dropped():
    frames = _payloads(10)
    track = SenderTrack(CODEC, reorder_frames=3)
    for i in (0, 1, 3, 4):
        track.push(i, frames[i])
    assert len(track.audio()) == 2 * CODEC.frame_samples  # 2 waits for frame 2
    track.push(5, frames[5])  # 3 frames past the gap: 2 is declared lost
    assert track.stats.concealed == 1
    assert len(track.audio()) == 6 * CODEC.frame_samples
    track.push(2, frames[2])  # too late now
    track.push(5, frames[5])  # duplicate of a played frame
    assert track.stats.late == 2
    track.push(7, frames[7])
    track.flush()
    assert track.stats.concealed == 2  # frame 6 concealed at flush
    assert len(track.audio()) == 8 * CODEC.frame_samples


def test_sequence_numbers_wrap_around():
    frames = _payloads(6)
    track = SenderTrack(CODEC)
    for k, p in enumerate(frames):
        track.push((65533 + k) & 0xFFFF, p)
    assert track.stats.concealed == 0 and len(track.audio()) == 6 * CODEC.frame_samples


def test_undecodable_payload_is_concealed_not_raised():
    frames = _payloads(3)
    track = SenderTrack(CODEC)
    track.push(0, frames[0])
    track.push(1, b"\x00")  # wrong length for Codec2 3200
    track.push(2, frames[2])
    assert track.stats.undecodable == 1
    assert len(track.audio()) == 3 * CODEC.frame_samples
