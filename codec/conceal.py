"""Codec-agnostic concealment of lost frames: replay the last payload, fading to silence.

Feeding the last good payload through the decoder again keeps pitch and spectral envelope
of the speech before the gap (better than repeating PCM, which clicks at frame edges);
a linear fade stops a long gap from droning, and silence follows once it reaches zero.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

DEFAULT_FADE_MS = 120.0


class RepeatFadeConcealer:
    """Wraps a payload decoder so that ``None`` (a lost frame) is concealed.

    ``decode_payload(bytes) -> float32 (frame_samples,)`` is the codec's raw decoder;
    its state advances on replayed payloads too, which is what keeps the output smooth.
    """

    def __init__(self, decode_payload: Callable[[bytes], np.ndarray], frame_samples: int,
                 sample_rate: int, fade_ms: float = DEFAULT_FADE_MS) -> None:
        if frame_samples <= 0 or sample_rate <= 0 or fade_ms <= 0:
            raise ValueError("frame_samples, sample_rate and fade_ms must be positive")
        self._decode = decode_payload
        self.frame_samples = frame_samples
        self.fade_samples = max(1, round(fade_ms * sample_rate / 1000.0))
        self._last: bytes | None = None
        self._lost_samples = 0  # concealed samples since the last good frame

    @property
    def concealing(self) -> bool:
        """True while inside a run of lost frames."""
        return self._lost_samples > 0

    def decode(self, payload: bytes | None) -> np.ndarray:
        """Decode ``payload``, or conceal one frame when it is ``None``."""
        if payload is not None:
            pcm = self._decode(payload)
            self._last, self._lost_samples = payload, 0
            return pcm
        start = self._lost_samples
        self._lost_samples += self.frame_samples
        if self._last is None or start >= self.fade_samples:
            return np.zeros(self.frame_samples, dtype=np.float32)
        pcm = self._decode(self._last)
        t = start + np.arange(self.frame_samples)
        gain = np.clip(1.0 - t / self.fade_samples, 0.0, 1.0)
        return (pcm * gain).astype(np.float32)
