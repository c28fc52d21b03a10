"""WAV files in and out: any WAV in (mixed to mono, resampled), 16-bit mono out."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from codec.resample import resample

# Leading bytes of the RIFF/WAVE family: little- and big-endian RIFF, RF64 (> 4 GiB), Wave64.
WAV_MAGIC = (b"RIFF", b"RIFX", b"RF64")
W64_MAGIC = b"riff"


class AudioFileError(ValueError):
    """An audio file is missing, unreadable or not a usable WAV; the message says which."""


def read_wav(path: str | Path, rate: int) -> np.ndarray:
    """Read any WAV file as float32 mono PCM in [-1, 1] at ``rate`` Hz.

    Any sample format libsndfile reads inside a WAV (8/16/24/32-bit PCM, float, A-law, ...),
    any channel count (averaged to mono) and any sample rate (resampled) are accepted.
    Raises :class:`AudioFileError` with a one-line reason otherwise.
    """
    path = Path(path)
    if not path.exists():
        raise AudioFileError(f"{path}: no such file")
    if not path.is_file():
        raise AudioFileError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise AudioFileError(f"{path}: file is empty (0 bytes), not a WAV file")
    with path.open("rb") as f:
        head = f.read(12)
    if not (head[:4] in WAV_MAGIC and head[8:12] == b"WAVE") and head[:4] != W64_MAGIC:
        raise AudioFileError(f"{path}: not a WAV file (no RIFF/WAVE header)")
    try:
        data, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except sf.LibsndfileError as exc:
        raise AudioFileError(f"{path}: unreadable or unsupported WAV ({_reason(exc)})") from None
    except (RuntimeError, OSError) as exc:
        raise AudioFileError(f"{path}: cannot read WAV ({exc})") from None
    if data.shape[0] == 0:
        raise AudioFileError(f"{path}: WAV file holds no audio samples")
    mono = data.mean(axis=1)
    if not np.all(np.isfinite(mono)):
        raise AudioFileError(f"{path}: WAV file holds non-finite (NaN/inf) samples")
    return resample(mono, file_rate, rate) if file_rate != rate else mono.astype(np.float32)


def write_wav(path: str | Path, pcm: np.ndarray, rate: int) -> None:
    """Write float PCM in [-1, 1] as a 16-bit mono WAV, clipping what lies outside."""
    pcm = np.asarray(pcm, dtype=np.float64)
    if pcm.ndim != 1:
        raise ValueError(f"write_wav expects mono 1-D PCM, got shape {pcm.shape}")
    if not np.all(np.isfinite(pcm)):
        raise ValueError("write_wav: PCM holds non-finite (NaN/inf) samples")
    samples = np.round(np.clip(pcm, -1.0, 1.0) * 32767.0).astype(np.int16)
    try:  # opened by Python, not libsndfile, whose errors just say "System error."
        with open(path, "wb") as f:
            sf.write(f, samples, rate, subtype="PCM_16", format="WAV")
    except OSError as exc:
        raise AudioFileError(f"{path}: cannot write WAV ({exc.strerror or exc})") from None


def _reason(exc: Exception) -> str:
    text = getattr(exc, "error_string", None) or str(exc)
    return " ".join(text.split())  # libsndfile messages can span lines
