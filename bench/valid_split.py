"""Candidate checkpoints scored on training corpora's held-out (valid) split: picks models
without looking at the dev set.

Usage::

    python bench/valid_split.py NAME=CKPT[+CKPT...] ... [--manifest M ...] [--clips N]
                                [--metrics stoi,dnsmos,distillmos,wer] [--bits 16]
                                [--codecs codec2-700c,...] [--json OUT]

Each candidate (one checkpoint, or several ``+``-joined and averaged as ``focalcall codec export``
would) encodes and decodes every chosen clip losslessly with its first ``--bits`` bits; the
registered codecs of ``--codecs`` run through their streaming roundtrip. Metrics are those of
``focalcall codec eval`` (WER only on clips with a transcript in a language Whisper is scored
in: the English corpus's sentences). The table gives each row's means and its paired difference
from the first row on every metric, with 95 % paired-bootstrap intervals. ``--clips`` takes that
many clips spread evenly over the split (every corpus in turn), so runs stay bounded.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from codec.data.manifest import Entry  # noqa: E402
from codec.evaluation.harness import MetricUnavailable, load_metric, summarize  # noqa: E402
from codec.evaluation.paired import paired_difference  # noqa: E402
from codec.neural.config import HOP, SAMPLE_RATE  # noqa: E402
from codec.neural.dataset import interleaved_rows, load_clip  # noqa: E402
from codec.neural.export import load_average  # noqa: E402
from codec.registry import get_codec  # noqa: E402
from codec.roundtrip import roundtrip  # noqa: E402
from valid_dnsmos import parse_candidate  # noqa: E402

DEFAULT_MANIFESTS = [ROOT / "data" / "corpus-english" / "manifest.jsonl",
                     ROOT / "data" / "corpus-real" / "manifest.jsonl"]
DEFAULT_METRICS = ("stoi", "dnsmos", "distillmos", "wer")
SCALE = {"wer": 100.0}  # shown in points


def pick_clips(manifests: list[Path], split: str, count: int) -> list[tuple[str, Entry, np.ndarray]]:
    """``count`` clips spread evenly over the split (corpora in turn): each clip's file, its
    manifest entry and its audio."""
    rows = interleaved_rows(manifests, (split,))
    rows = rows[:: max(1, len(rows) // count)][:count]
    clips = []
    for row in rows:
        entry = Entry(path=row["path"], speaker=row.get("speaker", "?"),
                      source=row.get("source", "?"), language=row.get("language", "?"),
                      duration=float(row.get("duration", 1.0)), text=row.get("text"), split=split)
        clips.append((str(row["file"]), entry, load_clip(row["file"])))
    return clips


def checkpoint_decoder(checkpoints: list[Path], bits: int):
    """A function: PCM → its roundtrip through the (averaged) model with ``bits`` bits, aligned."""
    model, _ = load_average(checkpoints)

    @torch.inference_mode()
    def decode(pcm: np.ndarray) -> np.ndarray:
        audio = torch.from_numpy(pcm[: len(pcm) // HOP * HOP])[None]
        codes = model.encode(audio)
        codes[..., bits:] = 0.0
        return model.decode(codes)[0, model.delay_samples:].numpy()
    return decode


def score_rows(metrics: dict, clips: list[tuple[str, Entry, np.ndarray]], decode) -> list[dict]:
    """Per clip: its file and every metric of ``decode(pcm)`` against the (aligned) input."""
    rows = []
    for path, entry, pcm in clips:
        out = decode(pcm)
        ref = pcm[: len(out)]
        row = {"path": path}
        for metric in metrics.values():
            row.update(metric.score(ref, out, entry))
        rows.append(row)
    return rows


def table(results: dict[str, list[dict]], columns: list[str]) -> str:
    """Markdown: means per row and the paired difference from the first row, per metric."""
    first = next(iter(results.values()))
    head = ["candidate"] + [f"{c} | {c} − first" for c in columns]
    lines = ["| " + " | ".join(head) + " |", "|---" * (1 + 2 * len(columns)) + "|"]
    for name, rows in results.items():
        means = summarize(rows, columns)
        cells = [name]
        for column in columns:
            scale = SCALE.get(column, 1.0)
            mean = means.get(column)
            cells.append("-" if mean is None else f"{scale * mean:.3f}")
            d = paired_difference(rows, first, column) if rows is not first else None
            cells.append("-" if d is None else
                         f"{scale * d.difference:+.3f} ({scale * d.low:+.3f} … {scale * d.high:+.3f})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("candidates", nargs="*", metavar="NAME=CKPT[+CKPT...]")
    parser.add_argument("--manifest", type=Path, action="append", default=None,
                        help="corpus manifest (repeat; default: the English and the real corpus)")
    parser.add_argument("--split", default="valid")
    parser.add_argument("--clips", type=int, default=60, help="clips to score (default 60)")
    parser.add_argument("--metrics", default=",".join(DEFAULT_METRICS))
    parser.add_argument("--bits", type=int, default=16, help="code bits the candidates decode")
    parser.add_argument("--codecs", default="", help="registered codecs scored beside them")
    parser.add_argument("--json", type=Path, help="also write every clip's scores here")
    args = parser.parse_args(argv)
    manifests = args.manifest or DEFAULT_MANIFESTS
    try:
        candidates = [parse_candidate(c) for c in args.candidates]
        codecs = [name for name in args.codecs.split(",") if name]
        for name in codecs:
            get_codec(name)  # an unknown name fails here, before any scoring
        if not candidates and not codecs:
            raise ValueError("nothing to score: give candidates and/or --codecs")
        clips = pick_clips(manifests, args.split, args.clips)
        metrics = {name: load_metric(name) for name in args.metrics.split(",") if name}
    except (ValueError, FileNotFoundError, KeyError, MetricUnavailable) as exc:
        parser.error(str(exc))
    if not clips:
        parser.error(f"no clips in split {args.split!r}")
    torch.set_num_threads(1)
    columns = [c for m in metrics.values() for c in m.columns]
    results: dict[str, list[dict]] = {}
    for name, checkpoints in candidates:
        results[name] = score_rows(metrics, clips, checkpoint_decoder(checkpoints, args.bits))
        print(f"{name}: {summarize(results[name], columns)}", file=sys.stderr)
    for name in codecs:
        codec = get_codec(name)
        results[name] = score_rows(metrics, clips, lambda pcm: roundtrip(codec, pcm, SAMPLE_RATE))
        print(f"{name}: {summarize(results[name], columns)}", file=sys.stderr)
    print(f"{len(clips)} clips of the {args.split} split of {', '.join(map(str, manifests))}, "
          f"candidates at {args.bits} bits\n\n{table(results, columns)}")
    if args.json:
        args.json.write_text(json.dumps({"manifests": list(map(str, manifests)), "split": args.split,
                                         "bits": args.bits, "scores": results}, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
