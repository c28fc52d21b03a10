"""DNSMOS of candidate neural-codec weights on a training corpus's held-out split.

Usage::

    python bench/valid_dnsmos.py NAME=CKPT[+CKPT...] ... [--manifest M] [--split valid] [--pghi]
                                 [--codecs codec2-700c,...] [--json OUT]

Picks checkpoints without looking at the dev set: each candidate (one checkpoint, or several
``+``-joined and averaged as ``focalcall codec export`` would) decodes every clip of the split
losslessly at 16 bits, and DNSMOS P.835 scores the output. The table gives each candidate's
means and its paired difference in overall score from the first candidate, with the 95 %
paired-bootstrap interval of :mod:`codec.evaluation.paired`. The split's clips are short, so the absolute
scores sit below the dev set's; compare candidates within one table. ``--pghi`` adds, for each
candidate, its output under a phase rebuilt from its magnitude alone (``bench/pghi.py``),
offline and frame-causal. ``--codecs`` adds rows for registered codecs (a lossless roundtrip
through each), so the split shows where the candidates stand against the baselines too.
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

from codec.evaluation.mos import DnsMos  # noqa: E402
from codec.evaluation.paired import paired_difference  # noqa: E402
from codec.neural.config import HOP, SAMPLE_RATE  # noqa: E402
from codec.neural.dataset import load_clip, read_manifest  # noqa: E402
from codec.neural.export import load_average  # noqa: E402
from codec.registry import get_codec  # noqa: E402
from codec.roundtrip import roundtrip  # noqa: E402
from pghi import rebuild  # noqa: E402

DEFAULT_MANIFEST = ROOT / "data" / "corpus-real" / "manifest.jsonl"


def parse_candidate(text: str) -> tuple[str, list[Path]]:
    """``NAME=A.pt+B.pt`` → ``("NAME", [A.pt, B.pt])``; every file must exist."""
    name, sep, paths = text.partition("=")
    if not sep or not name or not paths:
        raise ValueError(f"{text!r}: a candidate is NAME=CHECKPOINT[+CHECKPOINT...]")
    files = [Path(p) for p in paths.split("+")]
    missing = [str(p) for p in files if not p.exists()]
    if missing:
        raise FileNotFoundError(f"{name}: no such checkpoint {', '.join(missing)}")
    return name, files


PGHI_ROWS = {" + PGHI phase": False, " + PGHI phase, frame-causal": True}  # suffix → causal


@torch.inference_mode()
def score(checkpoints: list[Path], clips: dict[str, np.ndarray], mos: DnsMos,
          pghi: bool = False) -> dict[str, list[dict]]:
    """Row-name suffix (``""``: the decoded audio; with ``pghi`` also :data:`PGHI_ROWS`) →
    per clip (``path`` → audio): its path and the DNSMOS components."""
    model, _ = load_average(checkpoints)
    rows: dict[str, list[dict]] = {"": [], **({suffix: [] for suffix in PGHI_ROWS} if pghi else {})}
    for path, pcm in clips.items():
        audio = torch.from_numpy(pcm[: len(pcm) // HOP * HOP])[None]
        decoded = model.decode(model.encode(audio))[0].numpy()
        for suffix in rows:
            variant = rebuild(decoded, causal=PGHI_ROWS[suffix]) if suffix else decoded
            rows[suffix].append({"path": path, **mos.components(variant)})
    return rows


def score_codec(name: str, clips: dict[str, np.ndarray], mos: DnsMos) -> list[dict]:
    """Per clip: its path and the DNSMOS components of its roundtrip through codec ``name``."""
    codec = get_codec(name)
    return [{"path": path, **mos.components(roundtrip(codec, pcm, SAMPLE_RATE))}
            for path, pcm in clips.items()]


def table(results: dict[str, list[dict]]) -> str:
    """Markdown: mean SIG/BAK/OVRL per candidate and OVRL paired against the first."""
    first = next(iter(results.values()))
    lines = ["| candidate | SIG | BAK | OVRL | OVRL − first | 95 % interval |", "|---|---|---|---|---|---|"]
    for name, rows in results.items():
        means = [np.mean([r[k] for r in rows]) for k in ("sig", "bak", "ovrl")]
        d = paired_difference(rows, first, "ovrl")
        gap = f"{d.difference:+.3f} | {d.low:+.3f} … {d.high:+.3f}" if d else "- | -"
        lines.append(f"| {name} | {means[0]:.3f} | {means[1]:.3f} | {means[2]:.3f} | {gap} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("candidates", nargs="+", metavar="NAME=CKPT[+CKPT...]")
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument("--split", default="valid")
    parser.add_argument("--pghi", action="store_true",
                        help="also score each candidate under a phase rebuilt from its magnitude")
    parser.add_argument("--codecs", default="",
                        help="comma-separated registered codecs to score beside the candidates")
    parser.add_argument("--json", type=Path, help="also write every clip's scores here")
    args = parser.parse_args(argv)
    try:
        candidates = [parse_candidate(c) for c in args.candidates]
        rows = read_manifest(args.manifest, args.split)
        codecs = [name for name in args.codecs.split(",") if name]
        for name in codecs:
            get_codec(name)  # an unknown name fails here, before any scoring
    except (ValueError, FileNotFoundError) as exc:
        parser.error(str(exc))
    if not rows:
        parser.error(f"{args.manifest} has no clips in split {args.split!r}")
    torch.set_num_threads(1)
    clips = {row["path"]: load_clip(row["file"]) for row in rows}
    mos = DnsMos()
    results = {}
    for name, checkpoints in candidates:
        for suffix, rows_of in score(checkpoints, clips, mos, args.pghi).items():
            results[name + suffix] = rows_of
            print(f"{name + suffix}: OVRL {np.mean([r['ovrl'] for r in rows_of]):.3f}",
                  file=sys.stderr)
    for name in codecs:
        results[name] = score_codec(name, clips, mos)
        print(f"{name}: OVRL {np.mean([r['ovrl'] for r in results[name]]):.3f}", file=sys.stderr)
    print(f"{len(clips)} clips of {args.manifest} ({args.split})\n\n{table(results)}")
    if args.json:
        args.json.write_text(json.dumps({"manifest": str(args.manifest), "split": args.split,
                                         "scores": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
