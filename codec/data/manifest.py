"""The corpus manifest: ``DIR/manifest.jsonl``, one JSON object per clip.

Fields: ``path`` (WAV relative to DIR), ``speaker``, ``source``, ``language``, ``duration``
(seconds), ``text`` (or null), ``split`` ("train" | "valid"), ``augment`` (recipe or null).
Audio is 16 kHz mono 16-bit WAV, clean; augmentation is applied on the fly from the recipe.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

SPLITS = ("train", "valid", "dev")  # dev: the evaluation set only
MANIFEST = "manifest.jsonl"


class ManifestError(ValueError):
    """A manifest line is malformed; the message names the file and line."""


@dataclass(frozen=True)
class Entry:
    """One clip of a corpus."""

    path: str
    speaker: str
    source: str
    language: str
    duration: float
    text: str | None
    split: str
    augment: dict | None = None

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}")
        if not self.duration > 0:
            raise ValueError(f"duration must be positive, got {self.duration}")
        if not self.path.endswith(".wav") or Path(self.path).is_absolute() or ".." in Path(self.path).parts:
            raise ValueError(f"path must be a relative .wav path inside the corpus, got {self.path!r}")
        for name in ("speaker", "source", "language"):
            if not getattr(self, name):
                raise ValueError(f"{name} must not be empty")

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)


def read_manifest(directory: Path) -> list[Entry]:
    """All entries of ``directory/manifest.jsonl``; a torn last line (killed writer) is ignored."""
    path = Path(directory) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{path}: no manifest (build the corpus first)")
    lines = path.read_text(encoding="utf-8").split("\n")
    entries = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entries.append(Entry(**json.loads(line)))
        except (json.JSONDecodeError, TypeError, ValueError) as exc:
            if number == len(lines) and not line.endswith("}"):
                break  # a write cut short by a kill: resume will redo that clip
            raise ManifestError(f"{path}:{number}: {exc}") from None
    return entries


class ManifestWriter:
    """Appends entries to a manifest, one flushed line each, so a kill loses at most one."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / MANIFEST
        self._repair()
        self._file = open(self.path, "a", encoding="utf-8")

    def _repair(self) -> None:
        # Drop a torn trailing line left by a killed writer, so appends start on a fresh line.
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            self.path.write_bytes(data[: data.rfind(b"\n") + 1])

    def append(self, entry: Entry) -> None:
        self._file.write(entry.to_json() + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "ManifestWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
