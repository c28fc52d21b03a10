"""``focalcall codec train`` and ``focalcall codec export``: training and shipping the neural codec.

Torch and the training modules are imported only when a command runs, so building the CLI
stays cheap.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def register_train(codec_subparsers: argparse._SubParsersAction) -> None:
    """Add ``train`` and ``export`` under the ``codec`` command group."""
    tr = codec_subparsers.add_parser(
        "train", help="train the neural codec from a config file",
        description="Train (or resume) the focal neural codec as described by a YAML/JSON "
                    "config (see codec/neural/configs/). Resumes from RUN_DIR/last.pt when present; "
                    "uses a GPU with mixed precision when one is available.")
    tr.add_argument("--config", required=True, metavar="FILE", help="run config (.yaml or .json)")
    tr.add_argument("--run-dir", metavar="DIR", help="override train.run_dir of the config")
    tr.add_argument("--max-steps", type=int, metavar="N",
                    help="stop after N more steps (default: run every stage to its end)")
    tr.set_defaults(func=run_train)

    ex = codec_subparsers.add_parser(
        "export", help="ship a checkpoint: fp16 weights + streaming ONNX encoder/decoder",
        description="Round a training checkpoint to fp16 and write focal.pt, "
                    "focal_encoder.onnx, focal_decoder.onnx and focal.json into OUT_DIR. "
                    "Several checkpoints of one model are averaged first (stochastic weight "
                    "averaging of a run's snapshots).")
    ex.add_argument("checkpoint", nargs="+", metavar="CHECKPOINT",
                    help="a .pt from a training run, or several to average")
    ex.add_argument("--out", default=str(Path(__file__).parent / "weights"), metavar="OUT_DIR",
                    help="target directory (default: the shipped codec/neural/weights)")
    ex.add_argument("--note", default="", help="free text stored in focal.json")
    ex.set_defaults(func=run_export)


def run_train(args: argparse.Namespace) -> int:
    from codec.neural.train import train_from_config

    if args.max_steps is not None and args.max_steps < 1:
        raise ValueError("--max-steps must be at least 1")
    logs = train_from_config(args.config, args.run_dir, args.max_steps)
    print(json.dumps(logs))
    return 0


def run_export(args: argparse.Namespace) -> int:
    from codec.neural.export import ship

    paths = [Path(p) for p in args.checkpoint]
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"checkpoint {path} does not exist")
    meta = ship(paths, Path(args.out), args.note)
    averaged = f" (mean of steps {meta['averaged_steps']})" if "averaged_steps" in meta else ""
    print(f"exported step {meta['training_step']}{averaged} to {args.out}: "
          f"{meta['macs_per_frame']['total'] / 1e6:.1f} M MACs/frame, "
          f"{meta['algorithmic_latency_ms']:g} ms algorithmic latency")
    return 0
