"""Turning what was received into 16 kHz WAV files: one per sender, or all mixed."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from client.receiver import SenderTrack
from codec.resample import resample
from codec.wavio import write_wav

OUTPUT_RATE = 16000


@dataclass
class ReceivedTrack:
    """A remote sender's decoded audio and when its first packet arrived (receiver clock, s)."""

    sender_id: int
    name: str
    track: SenderTrack
    first_arrival: float

    def audio_16k(self) -> np.ndarray:
        """The sender's audio at 16 kHz with the codec's delay removed (aligned with what was sent)."""
        codec = self.track.codec
        pcm = self.track.audio()[codec.delay_samples:]
        return resample(pcm, codec.sample_rate, OUTPUT_RATE).astype(np.float32)


def mix(tracks: list[ReceivedTrack]) -> np.ndarray:
    """Mix tracks on the receiver's timeline, starting at the earliest first arrival."""
    if not tracks:
        return np.zeros(0, dtype=np.float32)
    start = min(t.first_arrival for t in tracks)
    placed = [(round((t.first_arrival - start) * OUTPUT_RATE), t.audio_16k()) for t in tracks]
    out = np.zeros(max(offset + len(a) for offset, a in placed), dtype=np.float32)
    for offset, audio in placed:
        out[offset:offset + len(audio)] += audio
    return out


def track_filename(track: ReceivedTrack) -> str:
    """``<id>-<name>.wav`` with the name reduced to safe characters."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", track.name).strip("._") or "participant"
    return f"{track.sender_id:03d}-{safe}.wav"


def write_outputs(tracks: list[ReceivedTrack], mixed_path: Path | None, per_sender_dir: Path | None) -> list[Path]:
    """Write the mixed WAV and/or one WAV per sender; return the paths written."""
    written = []
    if mixed_path is not None:
        write_wav(mixed_path, mix(tracks), OUTPUT_RATE)
        written.append(mixed_path)
    if per_sender_dir is not None:
        per_sender_dir.mkdir(parents=True, exist_ok=True)
        for track in tracks:
            path = per_sender_dir / track_filename(track)
            write_wav(path, track.audio_16k(), OUTPUT_RATE)
            written.append(path)
    return written
