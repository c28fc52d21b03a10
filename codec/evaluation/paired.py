"""How sure a difference between two codecs on the same clips is: a paired bootstrap.

Each resample draws clips with replacement and scores both codecs on the same draw with the
harness's own summary (means; WER pooled over words), so clip difficulty cancels out. The
dev set is small (WER rests on 159 words of 37 clips), and a gap between checkpoints of a few
WER points or a few hundredths of DNSMOS can be chance; the interval says which.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codec.evaluation.harness import summarize


@dataclass(frozen=True)
class PairedDifference:
    """``a − b`` on one metric, with a percentile bootstrap interval."""

    metric: str
    difference: float
    low: float
    high: float
    clips: int


def paired_difference(a_clips: list[dict], b_clips: list[dict], metric: str,
                      resamples: int = 2000, level: float = 0.95,
                      seed: int = 0) -> PairedDifference | None:
    """``a − b`` on ``metric`` over the clips both scored; None where fewer than 2 have it."""
    b_by_path = {row["path"]: row for row in b_clips}
    pairs = [(row, b_by_path[row["path"]]) for row in a_clips
             if row["path"] in b_by_path and row.get(metric) is not None
             and b_by_path[row["path"]].get(metric) is not None]
    if len(pairs) < 2:
        return None
    a_rows, b_rows = [p[0] for p in pairs], [p[1] for p in pairs]

    def gap(index: np.ndarray) -> float:
        a = summarize([a_rows[i] for i in index], [metric])[metric]
        b = summarize([b_rows[i] for i in index], [metric])[metric]
        return a - b if a is not None and b is not None else float("nan")

    rng = np.random.default_rng(seed)
    draws = np.array([gap(rng.integers(0, len(pairs), len(pairs))) for _ in range(resamples)])
    tail = 100 * (1 - level) / 2
    low, high = np.nanpercentile(draws, [tail, 100 - tail])
    return PairedDifference(metric, gap(np.arange(len(pairs))), float(low), float(high), len(pairs))
