"""The teacher's features of every clean corpus clip, computed once and cached.

Whisper-base's encoder (:mod:`codec.neural.teacher`) runs on each whole clip (in 30 s pieces,
its position table's length), one ``float16 (T, 512)`` file per clip named from its path
(:func:`codec.neural.dataset.teacher_cache_path`). ``python -m codec.neural.teacher_cache
MANIFEST... [--follow]`` fills the cache; ``--follow`` keeps watching manifests that a corpus
build is still appending to, so caching runs beside the build.
"""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import torch

from codec.neural.config import HOP
from codec.neural.dataset import interleaved_rows, load_clip, teacher_cache_path

log = logging.getLogger(__name__)

DEFAULT_CACHE = Path(".cache/teacher-whisper-base")
MAX_SAMPLES = 1500 * HOP  # Whisper's 30 s position table
PASS_CLIPS = 200  # with --follow, manifests are read again after this many clips


def teacher_features(teacher: torch.nn.Module, audio: np.ndarray,
                     device: torch.device) -> np.ndarray:
    """``(T, 512)`` float16 features of a clip, one per 320-sample frame."""
    audio = np.pad(audio, (0, (-len(audio)) % HOP))
    with torch.no_grad():
        feats = [teacher(torch.from_numpy(audio[i:i + MAX_SAMPLES])[None].to(device))[0].cpu()
                 for i in range(0, len(audio), MAX_SAMPLES)]
    return torch.cat(feats).numpy().astype(np.float16)


def fill_cache(manifests: list[str], cache_dir: Path, splits: tuple[str, ...] = ("valid", "train"),
               device: torch.device | None = None, follow: bool = False,
               poll_s: float = 60.0) -> int:
    """Cache the features of every clip of ``manifests`` not cached yet, valid clips first, the
    corpora in turn; returns how many. With ``follow``, keep polling the manifests."""
    from codec.neural.teacher import WhisperTeacher

    device = device or torch.device("cpu")
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    teacher = None
    done = 0
    while True:
        try:
            rows = interleaved_rows(manifests, splits)
        except ValueError:  # a manifest's last line is being written: read it again shortly
            time.sleep(5.0)
            continue
        todo = [r for r in rows if not teacher_cache_path(cache_dir, r["file"]).exists()]
        if follow:
            todo = todo[:PASS_CLIPS]
        if todo and teacher is None:
            teacher = WhisperTeacher.load().to(device).eval()
        for n, row in enumerate(todo):
            out = teacher_cache_path(cache_dir, row["file"])
            tmp = out.with_suffix(".tmp.npy")
            np.save(tmp, teacher_features(teacher, load_clip(row["file"]), device))
            tmp.replace(out)
            if n % 200 == 0:
                log.info("teacher cache %d/%d", n, len(todo))
        done += len(todo)
        if not follow:
            return done
        if not todo:
            time.sleep(poll_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="cache Whisper-base features of corpus clips")
    parser.add_argument("manifests", nargs="+", help="corpus manifest.jsonl files")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--follow", action="store_true",
                        help="keep watching the manifests for new clips")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    fill_cache(args.manifests, args.cache, follow=args.follow)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
