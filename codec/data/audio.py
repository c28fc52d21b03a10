"""Level normalization and silence trimming for corpus clips (16 kHz float32)."""
from __future__ import annotations

import numpy as np

from codec.resample import resample

RATE = 16000
TARGET_DBFS = -24.0  # active-speech RMS of every stored clip
PEAK = 0.95
FRAME = 320  # 20 ms


def active_rms(pcm: np.ndarray, floor_db: float = 40.0) -> float:
    """RMS over 20 ms frames within ``floor_db`` of the loudest frame (pauses excluded)."""
    n = len(pcm) // FRAME
    if n == 0:
        return float(np.sqrt(np.mean(np.square(pcm, dtype=np.float64)))) if len(pcm) else 0.0
    energy = np.mean(np.square(pcm[: n * FRAME].reshape(n, FRAME), dtype=np.float64), axis=1)
    active = energy[energy >= energy.max() * 10.0 ** (-floor_db / 10.0)]
    return float(np.sqrt(np.mean(active)))


def trim_silence(pcm: np.ndarray, floor_db: float = 45.0, pad_s: float = 0.15) -> np.ndarray:
    """Cut leading and trailing frames more than ``floor_db`` below the loudest, keeping a pad."""
    n = len(pcm) // FRAME
    if n == 0:
        return pcm
    energy = np.mean(np.square(pcm[: n * FRAME].reshape(n, FRAME), dtype=np.float64), axis=1)
    loud = np.flatnonzero(energy >= energy.max() * 10.0 ** (-floor_db / 10.0))
    pad = int(pad_s * RATE)
    return pcm[max(0, loud[0] * FRAME - pad): min(len(pcm), (loud[-1] + 1) * FRAME + pad)]


def normalize_level(pcm: np.ndarray, target_dbfs: float = TARGET_DBFS) -> np.ndarray:
    """Scale to ``target_dbfs`` active RMS, then down further if the peak would exceed 0.95."""
    rms = active_rms(pcm)
    if rms <= 0:
        raise ValueError("clip is silent")
    gain = 10.0 ** (target_dbfs / 20.0) / rms
    peak = float(np.max(np.abs(pcm))) * gain
    if peak > PEAK:
        gain *= PEAK / peak
    return (pcm * gain).astype(np.float32)


def shift_voice(pcm: np.ndarray, factor: float) -> np.ndarray:
    """A new voice: pitch and formants scaled by ``factor`` (tempo by its inverse).

    The clip is played back ``factor`` times faster, as a talker with a shorter (``factor`` > 1)
    or longer vocal tract and a higher or lower voice would sound; content above the new
    Nyquist frequency is filtered out by the resampler.
    """
    if not 0.5 <= factor <= 2.0:
        raise ValueError(f"voice shift factor must lie in [0.5, 2], got {factor}")
    return resample(np.asarray(pcm, np.float32), int(round(RATE * factor)), RATE).astype(np.float32)
