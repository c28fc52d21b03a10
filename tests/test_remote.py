"""RemoteStream on a fake clock: jitter buffer → decoder → aligned and played audio."""
import numpy as np

from client.remote import RemoteStream
from codec.payload_types import payload_type
from codec.registry import get_codec
from transport import Packet, Packetizer, PacketizerConfig, parse_packet

CODEC = get_codec("codec2-3200")
PERIOD = CODEC.frame_ms / 1000
N_FRAMES = 100


def _payloads() -> list[bytes]:
    t = np.arange(N_FRAMES * CODEC.frame_samples) / CODEC.sample_rate
    pcm = (0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32)
    enc = CODEC.encoder()
    return [enc.encode(f) for f in pcm.reshape(N_FRAMES, CODEC.frame_samples)]


def _run(redundancy: int, lose=lambda k: False, linger_frames: int = 20) -> RemoteStream:
    """Send every frame at its capture time (2 per packet), lose packets by index, pop on time."""
    packetizer = Packetizer(PacketizerConfig(payload_type("codec2-3200"), sender=4, redundancy=redundancy))
    stream, k = None, 0
    for i, payload in enumerate(_payloads() + [None] * linger_frames):
        clock = (i + 1) * PERIOD
        packets = packetizer.push(payload) if payload is not None else []
        for packet in packets:
            if not lose(k):
                parsed = parse_packet(packet)
                stream = stream or RemoteStream(4, "A", parsed)
                stream.push(parsed, clock + 0.001)
            k += 1
        for playout in stream.due(clock) if stream else []:
            stream.decode(playout)
    return stream


def test_clean_stream_plays_every_frame_in_order():
    stream = _run(redundancy=0)
    s = stream.stats
    assert s.packets_lost == 0
    assert stream.unplayed_frames() == 0  # (concealment after the stream ended doesn't count)
    out_frame = CODEC.frame_samples * 2  # 8 kHz -> 16 kHz
    assert len(stream.aligned_audio()) == N_FRAMES * out_frame - 2 * CODEC.delay_samples
    assert stream.playout_start is not None
    assert len(stream.played_audio()) >= len(stream.aligned_audio())


def test_redundancy_recovers_every_lost_packet():
    stream = _run(redundancy=8, lose=lambda k: k % 3 == 1)
    s = stream.stats
    assert s.packets_lost > 10
    assert s.frames_recovered_redundancy > 20
    assert stream.unplayed_frames() == 0


def test_without_redundancy_lost_frames_are_silence_in_the_aligned_track():
    clean = _run(redundancy=0).aligned_audio()
    stream = _run(redundancy=0, lose=lambda k: k == 10)  # frames 20 and 21
    assert stream.stats.packets_lost == 1
    # each of the two frames is concealed, or dropped (silence) if the buffer shrinks its delay there
    assert stream.unplayed_frames() <= 2
    lossy = stream.aligned_audio()
    assert len(lossy) == len(clean)
    start = 20 * CODEC.frame_samples * 2 - 2 * CODEC.delay_samples
    gap = slice(start, start + 2 * CODEC.frame_samples * 2)
    assert not np.allclose(lossy[gap], clean[gap], atol=0.05)  # concealed, not the original
    assert np.abs(lossy[: start - 400] - clean[: start - 400]).max() < 0.05  # same before the loss


def _talk(packetizer: Packetizer, payloads: list[bytes]) -> tuple[RemoteStream, Packet]:
    """Send ``payloads`` on time into a fresh stream, popping as a receiver would; the stream
    and the last packet sent."""
    stream, last = None, None
    for i, payload in enumerate(payloads):
        for packet in packetizer.push(payload):
            last = parse_packet(packet)
            stream = stream or RemoteStream(4, "A", last)
            stream.push(last, (i + 1) * PERIOD)
        if stream is not None:
            stream.due((i + 1) * PERIOD)
    return stream, last


def test_a_sender_that_stops_pauses_playout_and_resumes_on_its_next_packet():
    packetizer = Packetizer(PacketizerConfig(payload_type("codec2-3200"), sender=4))
    frames = _payloads()
    stream, _ = _talk(packetizer, frames[:40])
    assert not stream.idle
    quiet_start = 40 * PERIOD
    played = sum(len(stream.due(quiet_start + k * PERIOD)) for k in range(1, 200))
    assert stream.idle and stream.due(quiet_start + 10.0) == []
    assert played < (1.0 + 0.2) / PERIOD + 2  # it stopped pulling ~1.2 s after the last packet
    later = quiet_start + 10.0
    for j, payload in enumerate(frames[40:60]):
        for packet in packetizer.push(payload):
            stream.push(parse_packet(packet), later + (j + 1) * PERIOD)
    assert not stream.idle
    assert len(stream.due(later + 21 * PERIOD)) > 0


def test_repeats_of_the_final_packet_do_not_keep_the_stream_alive():
    """The sender repeats its final packet; the stream still goes idle after the original."""
    packetizer = Packetizer(PacketizerConfig(payload_type("codec2-3200"), sender=4))
    stream, last = _talk(packetizer, _payloads()[:40])
    end = 40 * PERIOD
    for k in range(1, 4):  # three repeats, 0.3 s apart: long after the last new packet
        stream.due(end + 0.3 * k)
        stream.push(last, end + 0.3 * k)
    assert stream.stats.packets_duplicate == 3
    stream.due(end + 1.25)
    assert stream.idle  # idle ~1.2 s after the last *new* packet, not after the last repeat


def test_timestamp_jumps_start_new_epochs_and_keep_the_track_bounded():
    """A sender jumping 2^23 frames (and back, and again) costs the listener no memory: each
    jump starts a new epoch of the aligned track, which holds what was played, not the gap."""
    payloads = _payloads()
    stream, clock = None, 0.0
    seq = 0
    for start in [0, 1 << 23, 5, (1 << 24) - 3_000_000]:  # forward, back, back across the wrap
        for i in range(0, 40, 2):
            clock += 2 * PERIOD
            packet = parse_packet(Packet(payload_type("codec2-3200"), seq % 65536, (start + i) % (1 << 24), 4,
                                         frames=(payloads[i], payloads[i + 1])).to_bytes())
            seq += 1
            stream = stream or RemoteStream(4, "A", packet)
            stream.push(packet, clock + 0.001)
            for playout in stream.due(clock):
                stream.decode(playout)
    assert stream.stats.resyncs == 3
    played = len(stream.played_audio())
    aligned = stream.aligned_audio()
    assert len(aligned) <= played + (stream.stats.frames_dropped + 15) * CODEC.frame_samples * 2
    assert len(stream._epochs) == 4
    assert stream.unplayed_frames() < 40
