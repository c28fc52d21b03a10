"""Turning what was received into 16 kHz WAV files: one per sender, or all mixed."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from client.remote import OUTPUT_RATE, RemoteStream
from codec.wavio import write_wav


def mix(streams: list[RemoteStream]) -> np.ndarray:
    """Mix the streams as they were played here, on the receiver's timeline, starting with
    the first frame played."""
    started = [s for s in streams if s.playout_start is not None]
    if not started:
        return np.zeros(0, dtype=np.float32)
    t0 = min(s.playout_start for s in started)
    placed = [(round((s.playout_start - t0) * OUTPUT_RATE), s.played_audio()) for s in started]
    out = np.zeros(max(offset + len(a) for offset, a in placed), dtype=np.float32)
    for offset, audio in placed:
        out[offset:offset + len(audio)] += audio
    return out


def stream_filename(stream: RemoteStream) -> str:
    """``<id>-<name>.wav`` with the name reduced to safe characters."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", stream.name).strip("._") or "participant"
    return f"{stream.sender_id:03d}-{safe}.wav"


def write_outputs(streams: list[RemoteStream], mixed_path: Path | None, per_sender_dir: Path | None,
                  max_seconds: float | None = None) -> list[Path]:
    """Write the mixed WAV and/or one time-aligned WAV per sender; return the paths written.
    With ``max_seconds`` (the call's wall-clock length) no file is longer than that."""
    limit = None if max_seconds is None else max(0, round(max_seconds * OUTPUT_RATE))
    written = []
    if mixed_path is not None:
        write_wav(mixed_path, mix(streams)[:limit], OUTPUT_RATE)
        written.append(mixed_path)
    if per_sender_dir is not None:
        per_sender_dir.mkdir(parents=True, exist_ok=True)
        names: set[str] = set()
        for stream in streams:
            path = per_sender_dir / _unique(stream_filename(stream), names)
            write_wav(path, stream.aligned_audio()[:limit], OUTPUT_RATE)
            written.append(path)
    return written


def _unique(filename: str, taken: set[str]) -> str:
    """``filename``, or ``<stem>-2.wav`` … when a stream of an earlier connection had it."""
    stem, candidate, n = filename.removesuffix(".wav"), filename, 1
    while candidate in taken:
        n += 1
        candidate = f"{stem}-{n}.wav"
    taken.add(candidate)
    return candidate
