"""Source-filter training targets, computed once per clean clip and cached.

WORLD's analysis (PyPI ``pyworld``): Harvest f0 (robust, unlike DIO), CheapTrick spectral envelope
and D4C aperiodicity, at our frames' centres (frame ``t`` is centred on sample ``320 t``, like the
encoder's analysis window and the teacher's features). Each clip becomes, per frame:

- ``f0`` (Hz): Harvest's estimate where voiced; across unvoiced stretches the contour is
  interpolated in log frequency (held at the ends), so the f0 classifier always has a target;
- ``voiced`` (0/1): Harvest's voicing decision;
- ``mcep`` ``(ORDER+1,)``: the envelope as a mel-cepstrum (:mod:`codec.neural.envelope`);
- ``ap`` ``(len(AP_NODES_HZ),)``: aperiodic power share at the nodes (tent-weighted means).

``python -m codec.neural.targets MANIFEST... [--follow]`` fills the cache
(``.cache/sf-targets``, one ``.npz`` per clip named like the teacher cache); ``--follow`` keeps
watching manifests that a corpus build is still appending to.
"""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np

from codec.neural.config import HOP, SAMPLE_RATE
from codec.neural.envelope import (AP_NODES_HZ, F0_MAX, F0_MIN, ORDER, ap_tents,
                                   bin_frequencies, fit_matrix)

log = logging.getLogger(__name__)

DEFAULT_CACHE = Path(".cache/sf-targets")
FRAME_MS = 1000.0 * HOP / SAMPLE_RATE
POWER_FLOOR = 1e-10                 # -100 dB: digital silence keeps a finite log
FIELDS = ("f0", "voiced", "mcep", "ap")


def analyze(pcm: np.ndarray) -> dict[str, np.ndarray]:
    """Targets of every whole frame of ``pcm`` (16 kHz): ``len(pcm) // HOP`` rows each."""
    import pyworld

    frames = len(pcm) // HOP
    x = np.asarray(pcm, np.float64)
    f0, times = pyworld.harvest(x, SAMPLE_RATE, f0_floor=F0_MIN, f0_ceil=F0_MAX,
                                frame_period=FRAME_MS)
    sp = pyworld.cheaptrick(x, f0, times, SAMPLE_RATE, f0_floor=F0_MIN)
    ap = pyworld.d4c(x, f0, times, SAMPLE_RATE)
    f0, sp, ap = f0[:frames], sp[:frames], ap[:frames]
    n_fft = 2 * (sp.shape[1] - 1)
    return {"f0": fill_unvoiced(f0).astype(np.float32),
            "voiced": (f0 > 0).astype(np.float32),
            "mcep": mel_cepstrum(sp, n_fft).astype(np.float32),
            "ap": ap_nodes(ap, n_fft).astype(np.float32)}


def fill_unvoiced(f0: np.ndarray) -> np.ndarray:
    """``f0`` with zeros replaced by log-linear interpolation between voiced neighbours."""
    voiced = np.flatnonzero(f0 > 0)
    if len(voiced) == 0:
        return np.full_like(f0, np.sqrt(F0_MIN * F0_MAX))
    log_f0 = np.interp(np.arange(len(f0)), voiced, np.log(f0[voiced]))
    return np.exp(log_f0)


def mel_cepstrum(sp: np.ndarray, n_fft: int) -> np.ndarray:
    """``(T, n_fft/2+1)`` power envelopes → ``(T, ORDER+1)`` mel-cepstra (log amplitude)."""
    fit, omega = fit_matrix()
    bins = np.arange(sp.shape[1]) * 2 * np.pi / n_fft
    log_amp = 0.5 * np.log(np.maximum(sp, POWER_FLOOR))
    sampled = np.stack([np.interp(omega, bins, row) for row in log_amp])   # (T, FIT_POINTS)
    return sampled @ fit.T


def ap_nodes(ap: np.ndarray, n_fft: int) -> np.ndarray:
    """``(T, bins)`` aperiodicity → ``(T, nodes)`` tent-weighted means around each node."""
    tents = ap_tents(bin_frequencies(n_fft))                              # (bins, nodes)
    return np.clip(ap, 0.0, 1.0) @ (tents / tents.sum(axis=0, keepdims=True))


def cache_path(cache_dir: Path, clip: Path) -> Path:
    """Cache file of a clip's targets (the teacher cache's naming, another directory)."""
    from codec.neural.dataset import teacher_cache_path

    return teacher_cache_path(cache_dir, clip).with_suffix(".npz")


def load_targets(cache_dir: Path, clip: Path) -> dict[str, np.ndarray]:
    """A clip's cached targets; FileNotFoundError names the command that makes them."""
    path = cache_path(cache_dir, clip)
    if not path.exists():
        raise FileNotFoundError(f"source-filter targets {path} missing: run "
                                f"'python -m codec.neural.targets MANIFEST' first")
    with np.load(path) as data:
        return {name: data[name] for name in FIELDS}


def cache_clip(cache_dir: Path, clip: Path) -> bool:
    """Analyse one clip into the cache; False when it was there already."""
    from codec.neural.dataset import load_clip

    out = cache_path(cache_dir, clip)
    if out.exists():
        return False
    audio = load_clip(clip)
    audio = np.pad(audio, (0, (-len(audio)) % HOP))
    targets = analyze(audio)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, **targets)
    tmp.replace(out)
    return True


PASS_CLIPS = 200  # with --follow, manifests are read again after this many clips


def fill_cache(manifests: list[str], cache_dir: Path, splits: tuple[str, ...] = ("valid", "train"),
               follow: bool = False, poll_s: float = 60.0) -> int:
    """Analyse every clip of ``manifests`` not yet cached, valid clips first, the corpora in
    turn; with ``follow``, keep polling the manifests for new clips."""
    from codec.neural.dataset import interleaved_rows

    done = 0
    while True:
        try:
            rows = interleaved_rows(manifests, splits)
        except ValueError:  # a manifest's last line is being written: read it again shortly
            time.sleep(5.0)
            continue
        todo = [row for row in rows if not cache_path(cache_dir, row["file"]).exists()]
        if follow:
            todo = todo[:PASS_CLIPS]
        fresh = sum(cache_clip(cache_dir, row["file"]) for row in todo)
        done += fresh
        log.info("source-filter targets: %d clips cached this pass (%d in all)", fresh, done)
        if not follow:
            return done
        if fresh == 0:
            time.sleep(poll_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="cache source-filter targets of corpus clips")
    parser.add_argument("manifests", nargs="+", help="corpus manifest.jsonl files")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--follow", action="store_true",
                        help="keep watching the manifests for new clips")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    fill_cache(args.manifests, args.cache, follow=args.follow)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
