"""Paired bootstrap: a real gap gets an interval that excludes zero, noise one that spans it."""
from __future__ import annotations

import numpy as np

from codec.evaluation.paired import paired_difference


def clips(values) -> list[dict]:
    return [{"path": f"c{i}.wav", "dnsmos": None if v is None else float(v)} for i, v in enumerate(values)]


def test_a_consistent_gap_is_certain_and_noise_is_not():
    rng = np.random.default_rng(1)
    base = rng.normal(2.6, 0.4, 60)  # clip difficulty varies far more than the gap
    better = paired_difference(clips(base + 0.1 + rng.normal(0, 0.02, 60)), clips(base), "dnsmos")
    assert better.difference > 0.09 and better.low > 0.05 and better.high < 0.15
    assert better.clips == 60
    same = paired_difference(clips(base + rng.normal(0, 0.2, 60)), clips(base), "dnsmos")
    assert same.low < 0 < same.high


def test_wer_is_pooled_over_words_in_every_resample():
    a = [{"path": "x", "wer": 1.0, "wer_errors": 1, "wer_words": 1},
         {"path": "y", "wer": 0.0, "wer_errors": 0, "wer_words": 9}]
    b = [{"path": "x", "wer": 0.0, "wer_errors": 0, "wer_words": 1},
         {"path": "y", "wer": 0.0, "wer_errors": 0, "wer_words": 9}]
    result = paired_difference(a, b, "wer")
    assert result.difference == 0.1  # 1 error in 10 words, not the mean of 1.0 and 0.0
    assert 0 <= result.low <= result.high <= 1.0


def test_clips_only_one_side_scored_are_left_out():
    a = clips([3.0, 3.0, 3.0]) + [{"path": "extra.wav", "dnsmos": 1.0}]
    b = clips([2.0, 2.0, None])
    result = paired_difference(a, b, "dnsmos")
    assert result.clips == 2 and result.difference == 1.0
    assert paired_difference(clips([1.0]), clips([2.0]), "dnsmos") is None
