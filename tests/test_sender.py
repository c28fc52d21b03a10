"""The relay's per-sender budget (server.sender): what a codec can need, and the cap."""
from __future__ import annotations

from server.codec_facts import CodecFacts
from server.sender import PROVISIONAL, SenderState, sender_need
from transport.packetizer import Packetizer, PacketizerConfig

NEURAL = CodecFacts(delay_s=0.04, bitrate=800, frame_ms=20)
CODEC2_700C = CodecFacts(delay_s=0.05, bitrate=700, frame_ms=40)


def test_the_need_covers_the_worst_legitimate_sender():
    """The most a well-behaved sender can send: 1 frame a packet, 15 redundant, parity."""
    packets, size = sender_need(NEURAL)
    assert packets == 50
    worst = Packetizer(PacketizerConfig(payload_type=1, frames_per_packet=1, redundancy=15, parity_packets=1))
    sent = [p for _ in range(200) for p in worst.push(b"\xab\xcd")]
    assert max(len(p) for p in sent) * 50 <= size
    assert sender_need(CODEC2_700C)[0] == 25
    assert sender_need(PROVISIONAL)[1] > 5 * size  # before the codec is known: the largest codec's


def test_a_flood_is_capped_and_a_normal_stream_is_not():
    state = SenderState(2.0, now=0.0)
    state.set_codec(1, NEURAL, 0.0)
    packets, size = sender_need(NEURAL)
    admitted = sum(state.admit(1000, 0.0 + i / 2000) is None for i in range(2000 * 3))  # 3 s of 2000/s, 1 kB
    assert admitted * 1000 <= 2.0 * size * (3 + 1) + 1000
    normal = SenderState(2.0, now=0.0)
    normal.set_codec(1, NEURAL, 0.0)
    assert all(normal.admit(29, i / 25) is None for i in range(25 * 60))  # a minute of default packets


def test_sequence_numbers_unwrap_around_the_newest():
    state = SenderState(2.0, now=0.0)
    assert [state.observe_seq(s) for s in (65534, 65535, 0, 1, 65533)] == [65534, 65535, 65536, 65537, 65533]
    assert state.high_seq == 65537
    assert state.unwrap(2) == 65538 and state.unwrap(65530) == 65530
