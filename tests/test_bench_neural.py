"""bench/neural.py's paired table against Codec2 700C: signs, scaling and the interval."""
import importlib.util
import sys
from pathlib import Path

import numpy as np

SPEC = importlib.util.spec_from_file_location(
    "bench_neural", Path(__file__).resolve().parent.parent / "bench" / "neural.py")
neural = sys.modules["bench_neural"] = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(neural)


def rows(dnsmos, errors):
    return [{"path": f"c{i}.wav", "pesq_nb": 2.0, "stoi": 0.8, "dnsmos": float(d),
             "wer": e / 10, "wer_errors": int(e), "wer_words": 10}
            for i, (d, e) in enumerate(zip(dnsmos, errors))]


def test_bar_table_gives_each_metric_with_its_interval():
    rng = np.random.default_rng(0)
    base = rng.normal(2.7, 0.3, 40)
    results = {"codecs": {"focal-800": {"clips": rows(base - 0.2, [3] * 40)},
                          "codec2-700c": {"clips": rows(base, [5] * 40)}}}
    lines = neural.bar_table(results).splitlines()
    assert lines[0].startswith("| metric | focal-800 − codec2-700c |")
    by_metric = {line.split("|")[1].strip(): line for line in lines[2:]}
    assert set(by_metric) == {"PESQ-NB", "STOI", "DNSMOS", "WER (points)"}
    assert "| -0.20 | -0.20 … -0.20 | higher | 40 |" in by_metric["DNSMOS"]
    assert "| -20.0 | -20.0 … -20.0 | lower | 40 |" in by_metric["WER (points)"]
    assert "| +0.00 |" in by_metric["PESQ-NB"]
