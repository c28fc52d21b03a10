"""bench/load.py's bookkeeping: histogram quantile from scrapes, the CPU fit, and that writing
BENCHMARKS.md replaces only its own section."""
import importlib.util
import sys
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location("bench_load", Path(__file__).resolve().parent.parent / "bench" / "load.py")
load = sys.modules["bench_load"] = importlib.util.module_from_spec(SPEC)  # dataclasses look it up
SPEC.loader.exec_module(load)


def step(calls, cpu, dropped=0, p99=1.0, variant=""):
    return load.Step(calls=calls, packets_sent=100, packets_received=100 - dropped, dropped=dropped, not_relayed=0,
                     latency_p50_ms=0.5, latency_p99_ms=p99, latency_max_ms=p99, handler_p99_ms=0.1,
                     server_cpu=cpu, generator_cpu=cpu, server_us_per_packet=100.0, variant=variant)


def test_handler_p99_reads_the_bucket_holding_the_99th_percentile():
    before = {'focalcall_relay_seconds_bucket{le="0.0001"}': 10.0, 'focalcall_relay_seconds_bucket{le="0.001"}': 10.0,
              'focalcall_relay_seconds_bucket{le="+Inf"}': 10.0}
    after = {'focalcall_relay_seconds_bucket{le="0.0001"}': 990.0, 'focalcall_relay_seconds_bucket{le="0.001"}': 1009.0,
             'focalcall_relay_seconds_bucket{le="+Inf"}': 1010.0}
    assert load.handler_p99(before, after) == pytest.approx(1.0)  # 980 of 1000 under 0.1 ms: p99 in (0.1, 1] ms


def test_markdown_fits_cpu_against_packet_rate_and_names_the_largest_good_n():
    steps = [step(1, 0.03), step(4, 0.06), step(8, 0.10), step(16, 0.18, dropped=3)]
    text = load.markdown(steps, "cmd", load.NOTE)
    assert "Largest N with relay p99 <= 5 ms and no drops: **8 calls**" in text
    # 50 packets/s per call: cpu = 0.02 + 0.01 * calls = 2 % + 200 us per packet; (1 - 0.02) / 0.01 = 98 calls
    assert "2.0 % + 200 us per relayed packet" in text and "near 98 calls" in text
    assert sum(line.startswith("|") for line in text.splitlines()) == 2 + len(steps)


def test_variants_get_a_verdict_each_and_sit_side_by_side_per_n():
    steps = [step(1, 0.05, variant="before"), step(1, 0.03, variant="after"),
             step(4, 0.11, variant="before", p99=9.0), step(4, 0.06, variant="after")]
    text = load.markdown(steps, "cmd", load.NOTE, {"before": "--relay-check full", "after": ""})
    assert "**before** (`--relay-check full`): Largest N with relay p99 <= 5 ms and no drops: **1 calls**" in text
    assert "**after** (default options): Largest N with relay p99 <= 5 ms and no drops: **4 calls**" in text
    rows = [line.split("|")[1:3] for line in text.splitlines() if line.startswith("| ") and "calls" not in line]
    assert [(n.strip(), v.strip()) for n, v in rows] == [("1", "before"), ("1", "after"), ("4", "before"), ("4", "after")]
    assert load.Variant.parse("old=--no-delayed-sack --relay-check full") == load.Variant(
        "old", ("--no-delayed-sack", "--relay-check", "full"))
    assert not load.Variant.parse("old=--no-delayed-sack").delayed_sack and load.Variant.parse("new=").delayed_sack


def test_write_section_replaces_only_its_own_section(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(f"# Benchmarks\n\n## Codecs\n\nA\n\n{load.HEADING}\n\nold\n\n## Profile\n\nB\n")
    load.write_section(f"{load.HEADING}\n\nnew\n\n", path)
    assert path.read_text() == f"# Benchmarks\n\n## Codecs\n\nA\n\n{load.HEADING}\n\nnew\n\n## Profile\n\nB\n"
    fresh = tmp_path / "fresh.md"
    load.write_section(f"{load.HEADING}\n\nx\n", fresh)
    assert fresh.read_text() == f"# Benchmarks\n\n{load.HEADING}\n\nx\n"
