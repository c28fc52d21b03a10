"""Userspace netem: loss models against theory, delay, reorder, duplicate, corrupt, rate."""
from __future__ import annotations

import itertools
import statistics

import pytest

from transport.impairment import Impairment
from transport.netem import parse_netem


def losses(spec: str, n: int, seed: int = 1) -> list[bool]:
    imp = Impairment(spec, seed=seed)
    return [not imp.decide(i * 0.02, b"x") for i in range(n)]


def bursts(lost: list[bool]) -> list[int]:
    return [len(list(g)) for k, g in itertools.groupby(lost) if k]


def test_seeded_and_deterministic() -> None:
    spec = "delay 40ms 20ms distribution normal loss 10% duplicate 5% reorder 10%"
    sent = [(i * 0.02, bytes([i % 256])) for i in range(500)]
    assert Impairment(spec, seed=5).apply(sent) == Impairment(spec, seed=5).apply(sent)
    assert Impairment(spec, seed=5).apply(sent) != Impairment(spec, seed=6).apply(sent)
    assert Impairment(parse_netem(spec + " seed 5")).apply(sent) == Impairment(spec, seed=5).apply(sent)


def test_random_loss_rate() -> None:
    lost = losses("loss 20%", 50_000)
    assert sum(lost) / len(lost) == pytest.approx(0.20, abs=0.01)
    assert statistics.mean(bursts(lost)) == pytest.approx(1 / 0.8, abs=0.03)  # geometric runs


@pytest.mark.parametrize("p, r", [(0.05, 0.40), (0.01, 0.25), (0.10, 0.70)])
def test_simple_gilbert_matches_theory(p: float, r: float) -> None:
    lost = losses(f"loss gemodel {p * 100}% {r * 100}%", 200_000)
    assert sum(lost) / len(lost) == pytest.approx(p / (p + r), rel=0.05)
    assert statistics.mean(bursts(lost)) == pytest.approx(1 / r, rel=0.05)


def test_gilbert_elliott_loss_rate_matches_theory() -> None:
    p, r, bad_loss, good_loss = 0.05, 0.30, 0.80, 0.01
    lost = losses(f"loss gemodel {p * 100}% {r * 100}% {bad_loss * 100}% {good_loss * 100}%", 200_000)
    bad = p / (p + r)
    assert sum(lost) / len(lost) == pytest.approx((1 - bad) * good_loss + bad * bad_loss, rel=0.05)


def test_gemodel_with_p_only_uses_tc_defaults() -> None:
    # tc sets r = 100 % (not the man page's 1 - p): a loss never repeats, rate p / (1 + p)
    lost = losses("loss gemodel 10%", 100_000)
    assert sum(lost) / len(lost) == pytest.approx(0.1 / 1.1, rel=0.05)
    assert max(bursts(lost)) == 1


def test_four_state_model_with_p13_only_is_bernoulli() -> None:
    lost = losses("loss state 15%", 100_000)
    assert sum(lost) / len(lost) == pytest.approx(0.15, rel=0.05)


def test_uniform_and_normal_delay() -> None:
    imp = Impairment("delay 40ms 20ms", seed=2)
    delays = [imp.decide(i * 0.02, b"x")[0][0] for i in range(20_000)]
    assert 0.02 <= min(delays) and max(delays) <= 0.06
    assert statistics.mean(delays) == pytest.approx(0.04, abs=0.001)
    imp = Impairment("delay 100ms 20ms distribution normal", seed=2)
    delays = [imp.decide(i * 0.02, b"x")[0][0] for i in range(20_000)]
    assert statistics.mean(delays) == pytest.approx(0.1, abs=0.001)
    assert statistics.stdev(delays) == pytest.approx(0.02, rel=0.05)


def test_jitter_reorders_like_netem() -> None:
    out = Impairment("delay 50ms 40ms", seed=3).apply([(i * 0.02, bytes([i])) for i in range(200)])
    order = [p[0] for _, p in out]
    assert sorted(order) == list(range(200)) and order != list(range(200))
    assert [t for t, _ in out] == sorted(t for t, _ in out)


def test_reorder_sends_a_fraction_immediately() -> None:
    imp = Impairment("delay 10ms reorder 25%", seed=4)
    delays = [imp.decide(i * 0.02, b"x")[0][0] for i in range(20_000)]
    assert sum(d == 0 for d in delays) / len(delays) == pytest.approx(0.25, abs=0.01)
    assert imp.stats.reordered == sum(d == 0 for d in delays)
    imp = Impairment("delay 10ms reorder 100% gap 5", seed=4)
    delays = [imp.decide(i * 0.02, b"x")[0][0] for i in range(20)]
    assert [i for i, d in enumerate(delays) if d == 0] == [4, 9, 14, 19]  # every 5th, reliably


def test_duplicate_and_corrupt() -> None:
    imp = Impairment("duplicate 10%", seed=5)
    copies = [len(imp.decide(i * 0.02, b"abc")) for i in range(20_000)]
    assert (sum(copies) - len(copies)) / len(copies) == pytest.approx(0.10, abs=0.01)
    imp = Impairment("corrupt 100%", seed=5)
    for i in range(100):
        ((_, data),) = imp.decide(i * 0.02, b"\x00" * 8)
        assert sum(bin(b).count("1") for b in data) == 1  # exactly one bit flipped
    assert imp.stats.corrupted == 100


def test_rate_serialises_packets() -> None:
    imp = Impairment("rate 64kbit", seed=0)
    out = imp.apply([(i * 0.005, bytes(100)) for i in range(20)])  # offered 160 kbit/s
    arrivals = [t for t, _ in out]
    assert arrivals[0] == pytest.approx(0.0125)  # 800 bits at 64 kbit/s
    assert all(b - a == pytest.approx(0.0125) for a, b in zip(arrivals, arrivals[1:]))
    imp = Impairment("rate 64kbit 20 100 5", seed=0)  # 120 bytes -> 2 cells of 105 bytes
    ((delay, _),) = imp.decide(0.0, bytes(100))
    assert delay == pytest.approx(210 * 8 / 64_000)
    ((delay, _),) = Impairment("rate 64kbit").decide(0.0, b"x", size=200)
    assert delay == pytest.approx(0.025)


def test_queue_limit_drops_overflow() -> None:
    imp = Impairment("rate 8kbit limit 5", seed=0)
    out = [imp.decide(i * 0.001, bytes(100)) for i in range(20)]  # each packet takes 100 ms
    assert sum(1 for o in out if o) == 5 and imp.stats.overflow == 15


def test_delay_with_rate_does_not_double_count() -> None:
    imp = Impairment("delay 100ms rate 80kbit", seed=0)
    a = imp.decide(0.0, bytes(100))[0][0]
    b = imp.decide(0.001, bytes(100))[0][0]
    assert a == pytest.approx(0.11) and 0.001 + b == pytest.approx(0.12)
