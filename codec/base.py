"""The one interface every focalcall codec satisfies.

A codec turns fixed-size frames of mono float32 PCM (at its own ``sample_rate``) into
codec frames (``bytes``) and back, one frame at a time, exactly as a live call does.
Decoders accept ``None`` for a frame that never arrived and must then conceal it.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class CodecError(ValueError):
    """A codec was misused or fed a payload it cannot decode."""


class FrameEncoder(ABC):
    """Streaming encoder: one PCM frame in, one codec frame out. Holds its own state."""

    @abstractmethod
    def encode(self, pcm: np.ndarray) -> bytes:
        """Encode ``pcm``: float32 in [-1, 1], shape ``(frame_samples,)``."""


class FrameDecoder(ABC):
    """Streaming decoder: one codec frame (or ``None`` when missing) in, one PCM frame out."""

    @abstractmethod
    def decode(self, payload: bytes | None) -> np.ndarray:
        """Decode ``payload`` into float32 PCM of shape ``(frame_samples,)``.

        ``None`` means the frame was lost: the decoder conceals it from its own state.
        A payload it cannot decode raises :class:`CodecError`.
        """


class Codec(ABC):
    """Static facts about a codec plus factories for its streaming encoder and decoder.

    ``delay_samples`` is how many samples (at ``sample_rate``) the decoder's output lags the
    encoder's input (look-ahead, filter and resampler delays inside the codec); removing it
    time-aligns output with input. Resampling to and from ``sample_rate`` outside the codec
    adds its own delay (``codec.resample.StreamResampler.delay``).
    """

    name: str
    sample_rate: int
    frame_samples: int
    bitrate: float
    delay_samples: int

    @property
    def frame_ms(self) -> float:
        """Duration of one frame in milliseconds."""
        return 1000.0 * self.frame_samples / self.sample_rate

    @property
    def algorithmic_latency_ms(self) -> float:
        """Frame duration plus the codec's own delay, in milliseconds."""
        return 1000.0 * (self.frame_samples + self.delay_samples) / self.sample_rate

    @abstractmethod
    def encoder(self) -> FrameEncoder:
        """A fresh streaming encoder."""

    @abstractmethod
    def decoder(self) -> FrameDecoder:
        """A fresh streaming decoder."""

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.name!r}, {self.sample_rate} Hz, "
                f"{self.frame_ms:g} ms frames, {self.bitrate:g} bit/s)")
