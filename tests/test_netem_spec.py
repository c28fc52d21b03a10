"""netem specification strings: parsing with tc's semantics, errors, tc commands."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transport.netem import NetemSpec, NetemSpecError, parse_netem


@pytest.mark.parametrize("text, expected", [
    ("loss 10%", NetemSpec(loss=0.10)),
    ("loss 10", NetemSpec(loss=0.10)),  # tc: a bare number is a percentage too
    ("loss random 2.5% 25%", NetemSpec(loss=0.025, loss_correlation=0.25)),
    ("drop 3%", NetemSpec(loss=0.03)),
    ("loss gemodel 1%", NetemSpec(gemodel=(0.01, 1.0, 1.0, 0.0))),  # tc's defaults, not the man page's
    ("loss gemodel 1% 30%", NetemSpec(gemodel=(0.01, 0.30, 1.0, 0.0))),
    ("loss gemodel 1% 30% 80% 0.1%", NetemSpec(gemodel=(0.01, 0.30, 0.80, 0.001))),
    ("loss state 2%", NetemSpec(loss_state=(0.02, 0.98, 0.0, 1.0, 0.0))),
    ("delay 40ms 20ms 25% distribution normal",
     NetemSpec(delay=0.04, jitter=0.02, delay_correlation=0.25, distribution="normal")),
    ("delay 40ms 20ms", NetemSpec(delay=0.04, jitter=0.02)),  # no table: uniform in the kernel
    ("delay 1.5s", NetemSpec(delay=1.5)),
    ("latency 250us", NetemSpec(delay=250e-6)),
    ("delay 100", NetemSpec(delay=100 * 1e-6)),  # tc: a bare time is microseconds
    ("delay 10ms reorder 5% 50%", NetemSpec(delay=0.01, reorder=0.05, reorder_correlation=0.5, gap=1)),
    ("delay 10ms reorder 100% gap 5", NetemSpec(delay=0.01, reorder=1.0, gap=5)),
    ("duplicate 1%", NetemSpec(duplicate=0.01)),
    ("corrupt 0.1% 10%", NetemSpec(corrupt=0.001, corrupt_correlation=0.1)),
    ("rate 64kbit", NetemSpec(rate=64_000)),
    ("rate 1Mbit", NetemSpec(rate=1e6)),
    ("rate 2KBps", NetemSpec(rate=16_000)),
    ("rate 300", NetemSpec(rate=300)),  # tc: a bare rate is bit/s
    ("rate 5kbit 20 100 5", NetemSpec(rate=5000, packet_overhead=20, cell_size=100, cell_overhead=5)),
    ("rate 5kbit -14", NetemSpec(rate=5000, packet_overhead=-14)),
    ("limit 50 seed 42", NetemSpec(limit=50, seed=42)),
    ("netem loss 1%", NetemSpec(loss=0.01)),
    ("", NetemSpec()),
    ("delay 40ms 20ms distribution normal loss gemodel 5% 40% duplicate 1% rate 64kbit",
     NetemSpec(delay=0.04, jitter=0.02, distribution="normal", gemodel=(0.05, 0.4, 1.0, 0.0),
               duplicate=0.01, rate=64_000)),
])
def test_parse(text: str, expected: NetemSpec) -> None:
    spec = parse_netem(text)
    assert spec == expected
    again = parse_netem(spec.to_tc_args())  # printing is canonical (floats may differ by an ulp)
    assert again.to_tc_args() == spec.to_tc_args() and again.delay == pytest.approx(spec.delay)


@pytest.mark.parametrize("text, message", [
    ("loss 10x", "'10x'"),
    ("loss 101%", "'101%'"),
    ("loss gemodel", "'loss gemodel' needs p"),
    ("loss gemodel 1% 2x", "bad r '2x' after 'loss gemodel'"),
    ("loss bursty 1%", "unknown loss model 'bursty'"),
    ("loss 1% loss 2%", "more than one loss model"),
    ("delay", "'delay' needs a time"),
    ("delay 10parsecs", "bad time '10parsecs'"),
    ("delay 10ms 5ms distribution gaussian", "unknown distribution 'gaussian'"),
    ("distribution normal", "distribution given without both a delay and a jitter"),
    ("reorder 5%", "reorder needs a delay"),
    ("delay 10ms gap 5", "gap given without a reorder"),
    ("rate 64kbps7", "bad rate '64kbps7'"),
    ("rate 10%", "percentage of the link speed"),
    ("rate 0kbit", "must be positive"),
    ("limit many", "bad packet count 'many'"),
    ("delay 10ms delay 20ms", "option 'delay' given twice"),
    ("jitter 10ms", "unknown netem option 'jitter'"),
    ("slot 10ms", "'slot' is not supported"),
    ("ecn", "'ecn' is not supported"),
    ("delay -5ms", "negative time '-5ms'"),
])
def test_errors_name_the_token(text: str, message: str) -> None:
    with pytest.raises(NetemSpecError, match=message):
        parse_netem(text)


def test_error_is_a_value_error() -> None:
    assert issubclass(NetemSpecError, ValueError)


def test_tc_command() -> None:
    spec = parse_netem("loss gemodel 1% 30%  delay 40ms 20ms 25% distribution normal")
    assert spec.to_tc_command("eth0") == ("tc qdisc replace dev eth0 root netem delay 40ms 20ms 25% "
                                          "distribution normal loss gemodel 1% 30% 100% 0%")
    assert parse_netem("rate 64kbit duplicate 1%").to_tc_command("veth-a") == (
        "tc qdisc replace dev veth-a root netem duplicate 1% rate 64kbit")
    assert NetemSpec().to_tc_command("lo") == "tc qdisc replace dev lo root netem"
    with pytest.raises(ValueError, match="interface"):
        spec.to_tc_command("eth0; reboot")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["loss", "delay", "10%", "5ms", "gemodel", "rate", "64kbit", "reorder",
                                 "gap", "3", "-1", "normal", "distribution", "duplicate", "x", "%",
                                 "limit", "seed", "1e3", ".5", "state", "random"]), max_size=8))
def test_arbitrary_token_soup_raises_only_netem_spec_error(tokens: list[str]) -> None:
    try:
        spec = parse_netem(" ".join(tokens))
    except NetemSpecError:
        return
    assert parse_netem(spec.to_tc_args()).to_tc_args() == spec.to_tc_args()
