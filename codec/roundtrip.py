"""Run a codec over a whole clip exactly as a call does: frame by frame, optional losses."""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from codec.base import Codec
from codec.resample import resample, resampled_length

OUTPUT_RATE = 16000


@dataclass(frozen=True)
class RoundtripResult:
    """Decoded audio (16 kHz, aligned with and as long as the input) and what was sent."""

    pcm: np.ndarray
    payloads: list[bytes]
    frame_ms: float

    @property
    def payload_bytes(self) -> int:
        return sum(len(p) for p in self.payloads)

    @property
    def payload_bitrate(self) -> float:
        """Measured payload bit rate in bit/s (codec frames only, no packet headers)."""
        return 8000.0 * self.payload_bytes / (len(self.payloads) * self.frame_ms)


def run_roundtrip(codec: Codec, pcm: np.ndarray, rate: int,
                  lost: Collection[int] = ()) -> RoundtripResult:
    """Encode and decode ``pcm`` (float, mono, ``rate`` Hz) with ``codec``.

    The clip is resampled to the codec's rate, zero-padded so the codec's delay is flushed
    out, encoded and decoded one frame at a time through the streaming interface (frames
    whose index is in ``lost`` reach the decoder as ``None``), stripped of ``delay_samples``
    and resampled to 16 kHz.
    """
    pcm = np.asarray(pcm, dtype=np.float32)
    if pcm.ndim != 1:
        raise ValueError(f"roundtrip expects mono 1-D PCM, got shape {pcm.shape}")
    if len(pcm) == 0:
        raise ValueError("roundtrip needs at least one sample")
    x = resample(pcm, rate, codec.sample_rate)
    n, step = len(x), codec.frame_samples
    frames = -(-(n + codec.delay_samples) // step)
    x = np.concatenate([x, np.zeros(frames * step - n, dtype=np.float32)])
    encoder, decoder = codec.encoder(), codec.decoder()
    payloads, out = [], []
    for i in range(frames):
        payload = encoder.encode(x[i * step:(i + 1) * step])
        payloads.append(payload)
        out.append(decoder.decode(None if i in lost else payload))
    y = np.concatenate(out)[codec.delay_samples: codec.delay_samples + n]
    y = resample(y, codec.sample_rate, OUTPUT_RATE)
    want = resampled_length(len(pcm), rate, OUTPUT_RATE)
    y = np.pad(y, (0, max(0, want - len(y))))[:want]  # rounding of the two resamplings
    return RoundtripResult(y.astype(np.float32), payloads, codec.frame_ms)


def roundtrip(codec: Codec, pcm: np.ndarray, rate: int, lost: Collection[int] = ()) -> np.ndarray:
    """Just the decoded 16 kHz PCM of :func:`run_roundtrip`."""
    return run_roundtrip(codec, pcm, rate, lost).pcm
