"""Voice activity for DTX: frame energy against an adaptive noise floor.

A frame is speech when its level is ``margin_db`` above the background (the floor drops at
once to a quieter frame and rises slowly, so speech never drags it up) and above
``min_speech_dbfs``. Hangover (how long a pause must last before the sender stops) is the
packetizer's business (``transport.DtxConfig``). The background level of the non-speech
frames is what a DTX keep-alive reports, and what the receiver's comfort noise plays.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SILENCE_DB = -127.0  # digital silence, as a keep-alive's level byte says it (127)


def level_db(frame: np.ndarray) -> float:
    """RMS level of a float frame (full scale 1.0) in dBFS, floored at :data:`SILENCE_DB`."""
    power = float(np.mean(np.square(frame, dtype=np.float64))) if len(frame) else 0.0
    return max(SILENCE_DB, 10 * math.log10(power)) if power > 0 else SILENCE_DB


@dataclass
class VadConfig:
    """Thresholds in dB; ``rise_db`` is how fast the floor may climb per frame."""

    margin_db: float = 9.0
    min_speech_dbfs: float = -55.0
    rise_db: float = 0.05  # 2.5 dB a second at 50 frames/s
    smoothing: float = 0.9  # of the background level (per non-speech frame, in power)


class Vad:
    """``update(frame)`` per frame: True for speech; :attr:`background_db` tracks the pauses."""

    def __init__(self, config: VadConfig | None = None) -> None:
        self.config = config or VadConfig()
        self._floor: float | None = None
        self._background = 0.0  # power of the non-speech frames, smoothed

    def update(self, frame: np.ndarray) -> bool:
        """Classify one frame and learn from it."""
        c = self.config
        level = level_db(frame)
        if self._floor is None or level < self._floor:
            self._floor = level
        else:
            self._floor = min(level, self._floor + c.rise_db)
        speech = level >= c.min_speech_dbfs and level >= self._floor + c.margin_db
        if not speech:
            power = 10 ** (level / 10)
            self._background = c.smoothing * self._background + (1 - c.smoothing) * power \
                if self._background else power
        return speech

    @property
    def background_db(self) -> float:
        """The level of the pauses so far, dBFS (:data:`SILENCE_DB` before any)."""
        return max(SILENCE_DB, 10 * math.log10(self._background)) if self._background > 0 else SILENCE_DB

    @property
    def background_level(self) -> int:
        """:attr:`background_db` as a keep-alive's level byte: -dBov, 0..127."""
        return int(min(127, max(0, round(-self.background_db))))
