"""Comfort noise for a sender's pauses (DTX), at the level its keep-alives report.

Gently low-passed white noise (most room and microphone noise falls off with frequency),
its level glided across frames so a change in the reported level never steps. RFC 3389 in
spirit, without the spectral envelope: a keep-alive carries the level only.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

GLIDE = 0.3  # share of the way to a new level per frame


class ComfortNoise:
    """``frame(n, level_db)``: ``n`` samples of noise at ``level_db`` dBFS RMS."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = np.random.default_rng(seed)
        self._gain: float | None = None
        self._state = np.zeros(1)

    def frame(self, n: int, level_db: float) -> np.ndarray:
        """The next ``n`` samples (float32); below -100 dBFS, silence."""
        target = 10 ** (level_db / 20) if level_db > -100 else 0.0
        gain = target if self._gain is None else self._gain + GLIDE * (target - self._gain)
        ramp = np.linspace(self._gain if self._gain is not None else gain, gain, n, endpoint=False)
        self._gain = gain
        # One-pole low-pass with unit power gain for white input: y = 0.5 y' + 0.866 x.
        out, self._state = lfilter([0.866], [1.0, -0.5], self._rng.standard_normal(n), zi=self._state)
        return (ramp * out).astype(np.float32)
