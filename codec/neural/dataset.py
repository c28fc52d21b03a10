"""Training data: random crops of corpus clips, a noisy/reverberant input and its clean target.

Reads one or more corpus manifests ``DIR/manifest.jsonl`` (one JSON object per clip with at
least ``path`` relative to DIR, 16 kHz mono WAV, and ``split``). Crops start on frame boundaries
so cached teacher features (one 512-d vector per 320 samples of the whole clip) line up.

Augmentation is pluggable: any ``fn(clean: np.ndarray, rng: np.random.Generator) -> noisy``
named as ``"module:function"`` in the config: :func:`corpus_augment` uses the corpus's recipes
(``codec.data.augment``), :func:`simple_augment` is a self-contained reverb + noise fallback.
"""
from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf
import torch

from codec.neural.config import HOP, SAMPLE_RATE

Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]


@dataclass
class DataConfig:
    """Where the corpus is and how to cut and corrupt it."""

    manifest: str | list[str] = "data/corpus/manifest.jsonl"   # one path or a list of them
    segment_seconds: float = 2.0
    batch_size: int = 8
    augment: str | None = "codec.neural.dataset:corpus_augment"
    augment_prob: float = 0.5        # fraction of crops that get corrupted at all
    teacher_cache: str = ".cache/teacher-whisper-base"
    targets_cache: str = ".cache/sf-targets"   # source-filter targets (codec.neural.targets)
    skip_uncached: bool = False      # train only on clips already cached (a corpus still growing)
    valid_clips: int = 8
    workers: int = 0                 # DataLoader processes (0: in the training process)

    def __post_init__(self) -> None:
        if self.segment_seconds * SAMPLE_RATE < 4 * HOP:
            raise ValueError("data.segment_seconds must cover at least 4 frames (80 ms)")
        if self.batch_size < 1:
            raise ValueError("data.batch_size must be positive")
        if self.workers < 0:
            raise ValueError("data.workers must be >= 0")
        if not 0.0 <= self.augment_prob <= 1.0:
            raise ValueError("data.augment_prob must lie in [0, 1]")

    @property
    def segment_frames(self) -> int:
        return int(self.segment_seconds * SAMPLE_RATE) // HOP


def read_manifest(path: str | Path, split: str) -> list[dict]:
    """Rows of ``split`` in a corpus manifest; each gains ``file``, the clip's resolved path."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"corpus manifest {path} does not exist")
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{n}: not JSON ({exc.msg})") from None
        if "path" not in row or "split" not in row:
            raise ValueError(f"{path}:{n}: a manifest row needs 'path' and 'split'")
        if row["split"] == split:
            rows.append({**row, "file": (path.parent / row["path"]).resolve()})
    return rows


def read_manifests(paths: str | Path | list, split: str) -> list[dict]:
    """Rows of ``split`` from one manifest or several (concatenated); an empty split is an error."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    rows = [row for path in paths for row in read_manifest(path, split)]
    if not rows:
        raise ValueError(f"{', '.join(map(str, paths))}: no clips in split {split!r}")
    return rows


def interleaved_rows(paths: list, splits: tuple[str, ...]) -> list[dict]:
    """Rows of ``splits`` (in that order) from existing manifests, taken from each manifest in
    turn, so a cache filled in this order advances on every corpus at once; duplicates dropped."""
    from itertools import chain, zip_longest

    out: dict[str, dict] = {}
    for split in splits:
        per_manifest = [read_manifest(p, split) for p in paths if Path(p).exists()]
        for row in chain.from_iterable(zip_longest(*per_manifest)):
            if row is not None:
                out.setdefault(str(row["file"]), row)
    return list(out.values())


def load_clip(path: Path) -> np.ndarray:
    """A 16 kHz mono WAV as float32."""
    audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    if rate != SAMPLE_RATE:
        raise ValueError(f"{path}: sample rate {rate} Hz, the codec needs {SAMPLE_RATE} Hz")
    return audio.mean(axis=1)


def resolve_augment(name: str | None) -> Augment | None:
    """``"module:function"`` → the callable (None → no augmentation)."""
    if not name:
        return None
    module, _, attr = name.partition(":")
    if not attr:
        raise ValueError(f"augment {name!r} must look like 'module:function'")
    return getattr(importlib.import_module(module), attr)


def simple_augment(clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Synthetic room reverb and/or coloured noise at 0–30 dB SNR, then a random level.

    The direct path of the reverb sits at lag 0, so the clean target stays time-aligned.
    """
    x = clean.astype(np.float64)
    if rng.random() < 0.5:
        rt60 = rng.uniform(0.15, 0.8)
        n = int(rt60 * SAMPLE_RATE)
        tail = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)
        tail[: int(0.002 * SAMPLE_RATE)] = 0.0
        rir = tail * rng.uniform(0.05, 0.3) / np.sqrt(np.sum(tail ** 2) + 1e-9)
        rir[0] = 1.0
        x = np.convolve(x, rir)[: len(x)]
    if rng.random() < 0.7:
        colour = rng.choice([0.0, 1.0, 2.0])          # white, pink, brown spectra
        spec = np.fft.rfft(rng.standard_normal(len(x)))
        freqs = np.maximum(np.arange(len(spec)), 1.0)
        noise = np.fft.irfft(spec / freqs ** (colour / 2), n=len(x))
        snr = rng.uniform(0.0, 30.0)
        p_sig = np.mean(x ** 2) + 1e-9
        noise *= np.sqrt(p_sig / (np.mean(noise ** 2) + 1e-12) / 10 ** (snr / 10))
        x = x + noise
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def corpus_augment(clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The corpus's augmentation recipes (``codec.data.augment``) without their level change.

    The crop already has a random level shared by input and target; a recipe gain would make
    the codec learn to undo level changes, which a call does not want.
    """
    from codec.data.augment import apply_recipe, sample_recipe

    recipe = sample_recipe(rng)
    recipe["gain_db"] = 0.0
    return apply_recipe(clean, recipe, rng)


def teacher_cache_path(cache_dir: Path, clip: Path) -> Path:
    """Cache file of a clip's teacher features, named from a hash of its resolved path.

    The whole path, not the manifest-relative one: two corpora both hold ``train/0000001.wav``.
    """
    return cache_dir / (hashlib.sha1(str(Path(clip).resolve()).encode()).hexdigest()[:16] + ".npy")


class CropDataset(torch.utils.data.Dataset):
    """Random frame-aligned crops: ``{"clean", "noisy": (N,)}``, with ``use_teacher`` also
    ``"teacher" (T, 512)`` and ``"teacher_mask" (T,)``, with ``use_targets`` the source-filter
    targets ``"f0", "voiced" (T,)``, ``"mcep" (T, ORDER+1)`` (its level follows the crop's
    gain), ``"ap" (T, nodes)`` and ``"target_mask" (T,)``."""

    def __init__(self, config: DataConfig, split: str = "train", seed: int = 0,
                 use_teacher: bool = False, length: int = 1 << 30,
                 use_targets: bool = False) -> None:
        self.config = config
        self.rows = read_manifests(config.manifest, split)
        self.augment = resolve_augment(config.augment)
        self.use_teacher = use_teacher
        self.use_targets = use_targets
        self.cache_dir = Path(config.teacher_cache)
        if config.skip_uncached:
            self.rows = [row for row in self.rows if self._cached(row["file"])]
            if not self.rows:
                raise ValueError(f"no {split} clip has its training targets cached yet")
        self.rng = np.random.default_rng(seed)
        self.length = length
        self._audio: dict[int, np.ndarray] = {}

    @staticmethod
    def worker_init(worker_id: int) -> None:
        """DataLoader hook: give each worker process its own random stream."""
        info = torch.utils.data.get_worker_info()
        info.dataset.rng = np.random.default_rng([int(info.seed) % (1 << 32), worker_id])

    def __len__(self) -> int:
        return self.length

    def _cached(self, clip: Path) -> bool:
        """Whether the teacher features and targets this dataset needs exist for ``clip``."""
        from codec.neural.targets import cache_path

        if self.use_teacher and not teacher_cache_path(self.cache_dir, clip).exists():
            return False
        return not (self.use_targets
                    and not cache_path(Path(self.config.targets_cache), clip).exists())

    def clip(self, index: int) -> np.ndarray:
        """Whole clip ``index``, zero-padded to a whole number of frames (memoised)."""
        if index not in self._audio:
            audio = load_clip(self.rows[index]["file"])
            pad = (-len(audio)) % HOP
            self._audio[index] = np.pad(audio, (0, pad))
        return self._audio[index]

    def teacher(self, index: int) -> np.ndarray:
        path = teacher_cache_path(self.cache_dir, self.rows[index]["file"])
        if not path.exists():
            raise FileNotFoundError(f"teacher features {path} missing: run the cache step first")
        return np.load(path)

    def __getitem__(self, _: int) -> dict[str, torch.Tensor]:
        frames = self.config.segment_frames
        index = int(self.rng.integers(len(self.rows)))
        audio = self.clip(index)
        total = len(audio) // HOP
        start = int(self.rng.integers(0, max(1, total - frames + 1)))
        clean = audio[start * HOP:(start + frames) * HOP]
        clean = np.pad(clean, (0, frames * HOP - len(clean)))
        # Peak level between -24 and -1 dBFS: quiet and loud talkers, never clipped.
        gain = 10 ** (self.rng.uniform(-24, -1) / 20) / max(1e-3, float(np.abs(clean).max()))
        gain = min(gain, 30.0)
        clean = (clean * gain).astype(np.float32)
        noisy = clean
        if self.augment is not None and self.rng.random() < self.config.augment_prob:
            noisy = self.augment(clean, self.rng).astype(np.float32)
        item = {"clean": torch.from_numpy(clean), "noisy": torch.from_numpy(np.ascontiguousarray(noisy))}
        if self.use_teacher:
            feats = self.teacher(index)[start:start + frames].astype(np.float32)
            feats = np.pad(feats, ((0, frames - len(feats)), (0, 0)))
            item["teacher"] = torch.from_numpy(feats)
            item["teacher_mask"] = torch.from_numpy(
                (np.arange(frames) < min(frames, total - start)).astype(np.float32))
        if self.use_targets:
            item.update(crop_targets(Path(self.config.targets_cache), self.rows[index]["file"],
                                     start, frames, gain))
        return item


def crop_targets(cache_dir: Path, clip: Path, start: int, frames: int,
                 gain: float) -> dict[str, torch.Tensor]:
    """Frames ``[start, start + frames)`` of a clip's cached source-filter targets, zero-padded,
    with the envelope's level moved by ``gain`` (the crop's amplitude scale)."""
    from codec.neural.targets import load_targets

    targets = load_targets(cache_dir, clip)
    out = {}
    for name, value in targets.items():
        part = value[start:start + frames].astype(np.float32)
        pad = [(0, frames - len(part))] + [(0, 0)] * (part.ndim - 1)
        out[name] = np.pad(part, pad, mode="edge" if len(part) else "constant")
    out["mcep"][:, 0] += np.float32(np.log(gain))
    have = min(frames, len(targets["f0"]) - start)
    out["target_mask"] = (np.arange(frames) < have).astype(np.float32)
    return {name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in out.items()}
