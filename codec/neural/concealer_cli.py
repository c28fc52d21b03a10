"""``focalcall codec train-concealer``: fit the frame-prediction concealer to the shipped codec."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from codec.neural.runtime import WEIGHTS_DIR

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "data" / "corpus-real"


def register_concealer(codec_subparsers: argparse._SubParsersAction) -> None:
    """Add ``train-concealer`` under the ``codec`` command group."""
    p = codec_subparsers.add_parser(
        "train-concealer", help="train the neural codec's next-code predictor (frame-prediction PLC)",
        description="Encode a corpus with the shipped neural encoder, train a small causal model "
                    "predicting each code from the ones before it, and write focal_predictor.onnx "
                    "(+ .json with its bit accuracy) next to the codec's weights. Rerun after every "
                    "codec export: the codes change with the codec.")
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, metavar="DIR",
                   help=f"corpus with manifest.jsonl (default {DEFAULT_CORPUS})")
    p.add_argument("--weights", type=Path, default=WEIGHTS_DIR, metavar="DIR",
                   help="the codec's weights directory (read and written; default: the shipped one)")
    p.add_argument("--steps", type=int, default=2000, help="training steps (default 2000)")
    p.add_argument("--max-clips", type=int, default=None, help="use only the first N clips")
    p.set_defaults(func=run_train_concealer)


def run_train_concealer(args: argparse.Namespace) -> int:
    from codec.neural.predictor import encode_corpus, export_predictor, train_predictor

    if args.steps < 1:
        raise ValueError("--steps must be at least 1")
    if not (args.corpus / "manifest.jsonl").exists():
        raise ValueError(f"{args.corpus} has no manifest.jsonl (build one with 'focalcall data build')")
    logging.getLogger("codec.neural.predictor").setLevel(logging.INFO)
    codes = encode_corpus(args.corpus, args.weights, args.max_clips)
    predictor, report = train_predictor(codes, steps=args.steps)
    path = export_predictor(predictor, report, args.weights, note=f"trained on {args.corpus.name}")
    print(f"bit accuracy on frames lost in bursts of 1-8: {report.model:.3f} (repeating the last code: {report.repeat_last:.3f}) "
          f"on {report.valid_frames} held-out frames -> {path}")
    return 0
