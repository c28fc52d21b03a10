"""Concealment of lost focal frames on the dev set: each concealment mode on bursts of 1-8 frames.

Usage: ``python bench/conceal.py [--codec focal-800] [--bursts 1,2,3,4,6,8] [--limit N]
[--modes predict,repeat,missing] [--valid N] [--json OUT] [--out BENCHMARKS.md]``

``--valid N`` scores N clips of the training corpora's held-out split instead of the dev set (for
choosing a concealer without looking at the dev set) and leaves BENCHMARKS.md alone.

Losses are placed on speech (frames within 30 dB of the clip's loudest), one burst of B frames
at a time with 300-600 ms of received frames between bursts (seeded per clip), so every burst
is one the concealer has to bridge from a recovered state. Every mode decodes the same losses
through the shipped runtime (:func:`codec.roundtrip.run_roundtrip`); PESQ-NB and STOI score
against the clean input, PLCMOS v2 the output alone. Each mode's difference from ``repeat``
(the last code again) and from ``missing`` (no code) comes with a 95 % paired-bootstrap
interval over clips.
"""
from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from codec.data.devset import ensure_devset  # noqa: E402
from codec.evaluation.harness import load_set, machine, summarize  # noqa: E402
from codec.evaluation.intrusive import Pesq, Stoi  # noqa: E402
from codec.evaluation.paired import paired_difference  # noqa: E402
from codec.evaluation.plcmos import PlcMos  # noqa: E402
from codec.neural.concealer import MODES  # noqa: E402
from codec.neural.runtime import FocalCodec, NeuralModel, weights_dir  # noqa: E402
from codec.roundtrip import run_roundtrip  # noqa: E402
from mdsection import update_section  # noqa: E402
from valid_split import DEFAULT_MANIFESTS, pick_clips  # noqa: E402

HEADING = "## Concealment of lost focal frames (bench/conceal.py)"
SPEECH_RANGE_DB = 30.0
GAP_FRAMES = (15, 30)  # received frames between bursts: 300-600 ms
COLUMNS = ("plcmos", "stoi", "pesq_nb")
BASELINES = ("repeat", "missing")


def speech_frames(pcm: np.ndarray, frame: int) -> np.ndarray:
    """Per frame: whether it is speech (level within :data:`SPEECH_RANGE_DB` of the loudest)."""
    count = len(pcm) // frame
    level = 10 * np.log10(np.mean(pcm[: count * frame].reshape(count, frame) ** 2, axis=1) + 1e-12)
    return level > level.max() - SPEECH_RANGE_DB


def burst_losses(speech: np.ndarray, burst: int, rng: np.random.Generator) -> set[int]:
    """Frame indices lost: bursts of ``burst`` frames that start on speech, spaced by received frames."""
    lost: set[int] = set()
    t = int(rng.integers(*GAP_FRAMES)) // 2
    while t + burst <= len(speech):
        if speech[t]:
            lost.update(range(t, t + burst))
            t += burst + int(rng.integers(*GAP_FRAMES))
        else:
            t += 1
    return lost


def score_clips(codec: FocalCodec, clips: list, metrics: tuple, place) -> list[dict]:
    """Every clip decoded with the frames ``place(index, speech)`` lost, scored on ``metrics``."""
    rows = []
    for index, (entry, pcm) in enumerate(clips):
        lost = place(index, speech_frames(pcm, codec.frame_samples))
        out = run_roundtrip(codec, pcm, 16000, lost).pcm
        row = {"path": entry.path}
        for metric in metrics:
            row.update(metric.score(pcm, out))
        rows.append(row)
    return rows


def table(scores: dict, bursts: list[int], modes: list[str], losses: dict[int, list[float]]) -> list[str]:
    """Markdown rows: each burst length and mode, its means and its paired differences from the baselines."""
    head = ["burst", "frames lost", "mode"]
    for column in COLUMNS:
        head += [column] + [f"− {base}" for base in BASELINES]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    lossless = summarize(scores["0"]["lossless"], list(COLUMNS))
    cells = ["0", "0 %", "lossless"]
    for column in COLUMNS:
        cells += [f"{lossless[column]:.3f}"] + ["—"] * len(BASELINES)
    lines.append("| " + " | ".join(cells) + " |")
    for burst in bursts:
        for mode in modes:
            rows = scores[str(burst)][mode]
            means = summarize(rows, list(COLUMNS))
            cells = [f"{burst} ({20 * burst} ms)", f"{100 * np.mean(losses[burst]):.1f} %", mode]
            for column in COLUMNS:
                cells.append(f"{means[column]:.3f}")
                for base in BASELINES:
                    d = (paired_difference(rows, scores[str(burst)][base], column)
                         if mode != base else None)
                    cells.append("—" if d is None else
                                 f"{d.difference:+.3f} ({d.low:+.3f} … {d.high:+.3f})")
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codec", default="focal-800", help="focal mode (default focal-800)")
    parser.add_argument("--bursts", default="1,2,3,4,6,8", help="burst lengths in frames")
    parser.add_argument("--modes", default=",".join(MODES), help="concealment modes to compare")
    parser.add_argument("--limit", type=int, default=None, help="first N dev-set clips only")
    parser.add_argument("--valid", type=int, metavar="N",
                        help="N clips of the training corpora's valid split instead of the dev set")
    parser.add_argument("--json", type=Path, help="also write every clip's scores here")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    bursts = [int(b) for b in args.bursts.split(",")]
    modes = args.modes.split(",")
    if args.valid and args.limit is not None:
        parser.error("--limit picks dev-set clips; --valid N already says how many valid clips")
    if not set(BASELINES) <= set(modes):
        parser.error(f"--modes must include {' and '.join(BASELINES)}, the baselines of the intervals")
    model = NeuralModel(weights_dir())
    codecs = {mode: FocalCodec(args.codec, model, concealment=mode) for mode in modes}
    if args.valid:
        clips = [(entry, pcm) for _, entry, pcm in pick_clips(DEFAULT_MANIFESTS, "valid", args.valid)]
    else:
        clips = load_set(ensure_devset(), args.limit)
    metrics = (PlcMos(), Stoi(), Pesq())
    started = time.time()
    scores: dict[str, dict[str, list[dict]]] = {"0": {"lossless": score_clips(
        codecs[BASELINES[0]], clips, metrics, lambda index, speech: set())}}
    losses: dict[int, list[float]] = {}
    for burst in bursts:
        for mode, codec in codecs.items():
            def place(index: int, speech: np.ndarray) -> set[int]:
                lost = burst_losses(speech, burst, np.random.default_rng([burst, index]))
                if mode == BASELINES[0]:
                    losses.setdefault(burst, []).append(len(lost) / len(speech))
                return lost
            rows = score_clips(codec, clips, metrics, place)
            scores.setdefault(str(burst), {})[mode] = rows
            print(burst, mode, summarize(rows, list(COLUMNS)), file=sys.stderr, flush=True)
    lines = table(scores, bursts, modes, losses)
    command = "python bench/conceal.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    body = "\n".join([
        f"`{command.strip()}` — {datetime.date.today()}, {machine()}, {len(clips)} "
        f"{'valid-split' if args.valid else 'dev-set'} clips, "
        f"{args.codec}, {(time.time() - started) / 60:.0f} min.",
        "",
        "Bursts of B lost frames placed on speech with 300-600 ms received between them; each mode "
        "decodes the same losses through the shipped runtime. `predict`: the next-code predictor's "
        "expected code (the predictor hears \"unknown\" for the frame); `repeat`: the last code again; `missing`: the "
        "all-zero code. Every mode fades to silence after 120 ms of loss. PESQ-NB and STOI against "
        "the clean input, PLCMOS v2 on the output alone; differences from `repeat` and `missing` "
        "with 95 % paired-bootstrap intervals over clips.",
        "",
        *lines])
    print(body)
    if args.json:
        args.json.write_text(json.dumps(scores, default=float))
    if not args.valid:
        update_section(args.out, HEADING, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
