"""Sender-side packetizer: grouping, redundancy, parity, adaptation."""
from __future__ import annotations

import pytest

from transport.packet import MAX_REDUNDANT, SEQ_MOD, TS_MOD, parse_packet
from transport.packetizer import Packetizer, PacketizerConfig, redundancy_for
from transport.parity import recover
from transport.report import ReceiverReport


def frame(i: int) -> bytes:
    return i.to_bytes(2, "big")


def run(p: Packetizer, n: int, start: int = 0) -> list:
    out = []
    for i in range(start, start + n):
        out += [parse_packet(b) for b in p.push(frame(i))]
    return out


def test_groups_frames_and_adds_redundancy() -> None:
    packets = run(Packetizer(PacketizerConfig(payload_type=1)), 20)
    assert len(packets) == 10
    assert [p.seq for p in packets] == list(range(10))
    assert [p.timestamp for p in packets] == list(range(0, 20, 2))
    for p in packets:
        t = p.timestamp
        assert p.frames == (frame(t), frame(t + 1))
        # redundancy: the up-to-8 frames just before, oldest first (fewer at the start)
        assert p.redundant == tuple(frame(i) for i in range(max(0, t - 8), t))
    assert all(len(p.to_bytes()) == 9 + 2 * 10 for p in packets[4:])  # L byte: fixed 2-byte frames


def test_every_frame_travels_in_five_packets_by_default() -> None:
    packets = run(Packetizer(PacketizerConfig(payload_type=1)), 40)
    carriers: dict[int, int] = {}
    for p in packets:
        for ts, _, _ in p.items():
            carriers[ts] = carriers.get(ts, 0) + 1
    assert all(carriers[ts] == 5 for ts in range(0, 30))  # 1 primary + 4 later packets: 160 ms


def test_sequence_and_timestamp_wrap() -> None:
    cfg = PacketizerConfig(payload_type=2, sender=9, frames_per_packet=3, redundancy=1,
                           first_seq=SEQ_MOD - 1, first_timestamp=TS_MOD - 4)
    packets = run(Packetizer(cfg), 9)
    assert [p.seq for p in packets] == [SEQ_MOD - 1, 0, 1]
    assert [p.timestamp for p in packets] == [TS_MOD - 4, TS_MOD - 1, 2]
    assert all(p.sender == 9 and p.payload_type == 2 for p in packets)


def test_quiet_flag_needs_every_primary_frame_quiet() -> None:
    p = Packetizer(PacketizerConfig(payload_type=1))
    assert p.push(b"a", quiet=True) == []
    first = parse_packet(p.push(b"b", quiet=False)[0])
    p.push(b"c", quiet=True)
    second = parse_packet(p.push(b"d", quiet=True)[0])
    assert (first.quiet, second.quiet) == (False, True)


def test_flush_sends_a_short_packet() -> None:
    p = Packetizer(PacketizerConfig(payload_type=1, frames_per_packet=4))
    assert p.push(b"a") == [] and p.push(b"b") == []
    (data,) = p.flush()
    assert parse_packet(data).frames == (b"a", b"b")
    assert p.flush() == []
    assert run(p, 4)[0].timestamp == 2


def test_redundancy_is_adaptable_at_runtime() -> None:
    p = Packetizer(PacketizerConfig(payload_type=1))
    run(p, 20)
    p.redundancy = 2
    assert all(len(x.redundant) == 2 for x in run(p, 6, 20))
    p.redundancy = 0
    assert all(x.redundant == () for x in run(p, 4, 26))
    with pytest.raises(ValueError, match="redundancy"):
        p.redundancy = MAX_REDUNDANT + 1


def test_parity_columns_rebuild_a_whole_lost_packet() -> None:
    cfg = PacketizerConfig(payload_type=16, redundancy=0, parity_packets=3)
    p = Packetizer(cfg)
    sizes = [5, 17, 3, 40, 1, 22, 9, 9]
    packets = []
    for i, size in enumerate(sizes):
        packets += [parse_packet(b) for b in p.push(bytes([i]) * size)]
    # group = packets 0..2 (frames 0..5); its two column blocks ride on packet 3
    assert [len(x.parity) for x in packets] == [0, 0, 0, 2]
    frames = {ts: f for x in packets[:3] for ts, f, _ in x.items()}
    lost = packets[1]  # frames 2 and 3
    known = {ts: f for ts, f in frames.items() if ts not in (2, 3)}
    for block in packets[3].parity:
        ts, data = recover(block, block.timestamps(), known.get)
        assert data == frames[ts]


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="frames_per_packet"):
        PacketizerConfig(payload_type=1, frames_per_packet=5)
    with pytest.raises(ValueError, match="payload_type"):
        PacketizerConfig(payload_type=64)
    with pytest.raises(ValueError, match="redundancy"):
        PacketizerConfig(payload_type=1, redundancy=16)


@pytest.mark.parametrize("report, current, expected", [
    (ReceiverReport(0, 0, loss_fraction=0.3, max_burst=3), 4, 6),  # cover a 3-packet burst
    (ReceiverReport(0, 0, loss_fraction=0.1, residual_loss=0.02, max_burst=1), 8, 10),  # still losing
    (ReceiverReport(0, 0), 8, 7),  # clean: decay
    (ReceiverReport(0, 0), 2, 2),  # never below the floor
    (ReceiverReport(0, 0, loss_fraction=0.5, max_burst=20), 8, MAX_REDUNDANT),
])
def test_redundancy_for(report: ReceiverReport, current: int, expected: int) -> None:
    assert redundancy_for(report, current, frames_per_packet=2) == expected


def test_adapt_uses_reports() -> None:
    p = Packetizer(PacketizerConfig(payload_type=1, redundancy=4))
    assert p.adapt(ReceiverReport(0, 0, loss_fraction=0.2, max_burst=5)) == 10
    assert p.redundancy == 10


def test_adapt_follows_the_worst_of_several_receivers() -> None:
    """Reports of a lossy and a clean listener alternate: the lossy one's need holds."""
    lossy = ReceiverReport(0, 0, loss_fraction=0.2, max_burst=5)
    clean = ReceiverReport(0, 0)
    together = Packetizer(PacketizerConfig(payload_type=1, redundancy=2))
    alone = Packetizer(PacketizerConfig(payload_type=1, redundancy=2))
    for _ in range(10):
        together.adapt(lossy, receivers=2)
        together.adapt(clean, receivers=2)
        alone.adapt(lossy)
        alone.adapt(clean)
    assert together.redundancy == 10  # 5 lost packets of 2 frames
    assert alone.redundancy == 9      # one receiver assumed: the clean report steps it down
    for _ in range(20):
        together.adapt(clean, receivers=2)
    assert together.redundancy == 2   # never below the configured amount


def test_dtx_holds_back_pauses_sends_keepalives_and_the_held_frames_at_the_onset():
    from transport import DtxConfig
    from transport.packet import VERSION_3

    pk = Packetizer(PacketizerConfig(payload_type=1, version=VERSION_3, redundancy=2,
                                     dtx=DtxConfig(hangover=2, keepalive=5, onset=4)))
    out = []
    for i in range(30):  # speech 0-5, pause 6-19, speech 20-29
        out += [parse_packet(p) for p in pk.push(bytes([i, 0]), speech=i < 6 or i >= 20, level=60)]
    keepalives = [p for p in out if p.keepalive]
    assert [p.timestamp for p in keepalives] == [8, 13, 18]  # after a 2-frame hangover, then every 5
    assert all(p.level == 60 and p.version == VERSION_3 for p in keepalives)
    assert [p.seq for p in out] == list(range(len(out)))  # keep-alives count as packets
    onset = next(p for p in out if not p.keepalive and p.timestamp >= 20)
    assert onset.timestamp == 20 and [f[0] for f in onset.redundant] == [16, 17, 18, 19]
    assert pk.frames_held == 12 and pk.keepalives == 3 and pk.frames_pushed == 30
    assert not any(p.frames and 8 <= p.timestamp < 20 for p in out)
