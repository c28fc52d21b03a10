"""File names of the shipped code predictor, and the fingerprint that ties it to the codec
(shared by its trainer, its runtime and the tests)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

PREDICTOR_ONNX = "focal_predictor.onnx"
PREDICTOR_META = "focal_predictor.json"


def encoder_fingerprint(weights_dir: Path) -> str:
    """SHA-256 of the codec's encoder ONNX: the codes, hence the predictor, follow from it alone
    (a decoder-only change keeps the predictor valid)."""
    meta = json.loads((weights_dir / "focal.json").read_text())
    return hashlib.sha256((weights_dir / meta["encoder_onnx"]).read_bytes()).hexdigest()
