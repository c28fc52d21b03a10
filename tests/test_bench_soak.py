"""bench/soak.py's verdict: RSS growth from the baseline minute and flat open files."""
import argparse
import importlib.util
import sys
from pathlib import Path

SPEC = importlib.util.spec_from_file_location("bench_soak", Path(__file__).resolve().parents[1] / "bench" / "soak.py")
soak = sys.modules["bench_soak"] = importlib.util.module_from_spec(SPEC)  # dataclasses look it up
SPEC.loader.exec_module(soak)

ARGS = argparse.Namespace(minutes=3.0, baseline_minute=1.0, calls=2, call_seconds=20.0, sample_seconds=30.0)


def samples(rss_kb, files=20):
    out = [soak.Sample(30.0 * i, kb, files, 4) for i, kb in enumerate(rss_kb)]
    out[0].open_files, out[-1].open_files = 14, 17  # idle before the first call and after the last
    return out


def test_flat_memory_passes_and_growth_fails():
    flat = soak.markdown(samples([90_000, 150_000, 160_000, 160_500, 160_200, 160_800, 161_000, 160_900]),
                         soak.Totals(cycles=100, calls=4), ARGS, "cmd")
    assert flat.splitlines()[2].startswith("PASS: server RSS 156.2 MB at minute 1, 157.1 MB at the end (+0.6 %")
    assert "| 2 | 156.4 | 20 |" in flat and "| end | 157.1 | 17 |" in flat
    growing = soak.markdown(samples([90_000, 150_000, 160_000, 165_000, 170_000, 175_000, 180_000, 185_000]),
                            soak.Totals(), ARGS, "cmd")
    assert growing.splitlines()[2].startswith("FAIL") and "+15.6 %" in growing


def test_leaking_files_fail():
    leaky = samples([100_000] * 8)
    for i, s in enumerate(leaky[1:-1]):
        s.open_files = 20 + 3 * i
    text = soak.markdown(leaky, soak.Totals(), ARGS, "cmd")
    assert text.splitlines()[2].startswith("FAIL")


def test_files_left_open_after_everyone_left_fail():
    text = soak.markdown(samples([100_000] * 7 + [100_000]) [:-1] + [soak.Sample(210.0, 100_000, 25, 0)],
                         soak.Totals(), ARGS, "cmd")
    assert text.splitlines()[2].startswith("FAIL")
