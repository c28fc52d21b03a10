"""``focalcall codec eval``: score codecs on the dev set (table on screen, JSON on disk)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from codec.evaluation.metric_names import METRICS


def register_eval(codec_subparsers: argparse._SubParsersAction) -> None:
    """Add ``eval`` to the ``focalcall codec`` group."""
    p = codec_subparsers.add_parser(
        "eval", help="score codecs on the dev set (PESQ, STOI, MOS, speaker similarity, WER, RTF)",
        description="Runs each codec through its streaming interface over every clip of the set "
        "and prints one comparison table; details per clip go to the JSON file.")
    p.add_argument("--codec", action="append", required=True, metavar="NAME",
                   help="codec to evaluate (repeat for a comparison)")
    p.add_argument("--set", type=Path, default=None, dest="set_dir",
                   help="evaluation set directory with manifest.jsonl (default: data/devset, "
                   "built on first use)")
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    p.add_argument("--save-wavs", type=Path, default=None, metavar="DIR",
                   help="save decoded clips as DIR/<codec>/<clip>.wav")
    p.add_argument("--metrics", default=",".join(METRICS),
                   help=f"comma-separated subset of {','.join(METRICS)} (default: all)")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N clips")
    p.set_defaults(func=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    from codec.data.devset import ensure_devset
    from codec.evaluation import harness, report

    from codec.data.debs import PackageFetchError

    try:
        config = harness.EvalConfig(
            codecs=tuple(dict.fromkeys(args.codec)), set_dir=ensure_devset(args.set_dir, _note),
            metrics=tuple(m.strip() for m in args.metrics.split(",") if m.strip()),
            save_wavs=args.save_wavs, limit=args.limit)
        results = harness.evaluate(config, progress=_note)
    except (harness.MetricUnavailable, PackageFetchError) as exc:
        _note(f"focalcall codec eval: error: {exc}")
        return 2
    print(report.table(results))
    if args.out is not None:
        report.write_json(results, args.out)
        _note(f"results written to {args.out}")
    return 0


def _note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
