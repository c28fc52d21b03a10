"""Whole-link simulation on a fake clock."""
from __future__ import annotations

import pytest

from transport.impairment import Impairment
from transport.packet import TS_MOD
from transport.packetizer import PacketizerConfig
from transport.simulate import simulate_link


def frames(n: int) -> list[bytes]:
    return [i.to_bytes(2, "big") for i in range(n)]


def test_clean_link_delivers_everything_in_order() -> None:
    result = simulate_link(frames(500))
    assert None not in result.played
    kept = set(result.played)
    assert result.played == [f for f in frames(500) if f in kept]
    # the 60 ms start is trimmed towards the ~21 ms target: one frame per 5 s (no quiet hints)
    assert 500 - len(result.played) == result.buffer.frames_dropped <= 2
    # 2 frames per packet (the first waits 40 ms) + 60 ms initial delay, in 20 ms periods
    assert 4 <= result.start_delay_frames <= 6
    assert result.packets_sent == 250 and result.bytes_sent > 250 * 9
    assert result.buffer.frames_played == len(result.played)


def test_lossy_link_statistics_are_consistent() -> None:
    result = simulate_link(frames(5000), Impairment("delay 30ms 10ms loss 20%", seed=11))
    got = [f for f in result.played if f is not None]
    assert got == sorted(got)
    assert len(got) >= 0.99 * 5000  # default redundancy covers 20 % random loss
    assert result.network.dropped == pytest.approx(0.2 * result.packets_sent, rel=0.1)
    assert result.buffer.frames_recovered_redundancy > 800


def test_deterministic_and_wraps() -> None:
    cfg = PacketizerConfig(payload_type=1, first_timestamp=TS_MOD - 100, first_seq=65500)
    a = simulate_link(frames(400), "loss gemodel 5% 40% delay 20ms 5ms", packetizer=cfg)
    b = simulate_link(frames(400), "loss gemodel 5% 40% delay 20ms 5ms", packetizer=cfg)
    assert a.played == b.played and a.buffer == b.buffer
    got = [f for f in a.played if f is not None]
    assert got == sorted(got) and got[-1] == frames(400)[-1]


def test_nothing_arrives() -> None:
    result = simulate_link(frames(50), "loss 100%")
    assert result.played == [] and result.buffer.packets_received == 0
