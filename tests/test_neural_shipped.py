"""The shipped neural codec weights: present, small enough, consistent, usable through the registry."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from codec.neural.export import load_model
from codec.neural.runtime import WEIGHTS_DIR, NeuralModel
from codec.registry import get_codec
from codec.resample import resample
from codec.roundtrip import run_roundtrip
from tests.test_neural_model import speechlike, stream
from tests.utils import read_wav

MAX_FILE_BYTES = 20 * 1024 * 1024


def test_shipped_files_exist_and_fit_the_size_limit():
    meta = json.loads((WEIGHTS_DIR / "focal.json").read_text())
    for name in (meta["encoder_onnx"], meta["decoder_onnx"], meta["weights"]):
        size = (WEIGHTS_DIR / name).stat().st_size
        assert 0 < size <= MAX_FILE_BYTES, (name, size)
    assert meta["macs_per_frame"]["total"] <= 25e6
    assert meta["algorithmic_latency_ms"] <= 80


def test_shipped_onnx_matches_shipped_pytorch():
    model, _ = load_model(WEIGHTS_DIR / "focal.pt")
    onnx = NeuralModel(WEIGHTS_DIR)
    audio = speechlike(15)
    with torch.no_grad():
        _, ref = stream(model, audio)
    es = np.zeros((1, onnx.meta["encoder_state_size"]), np.float32)
    ds = np.zeros((1, onnx.meta["decoder_state_size"]), np.float32)
    out = []
    for t in range(15):
        code, es = onnx.encoder.run(None, {"pcm": audio[:, t * 320:(t + 1) * 320].numpy(), "state": es})
        y, ds = onnx.decoder.run(None, {"code": code, "state": ds})
        out.append(y)
    assert np.abs(np.concatenate(out, 1) - ref.numpy()).max() < 1e-3


def test_focal_codecs_round_trip_real_speech(speech_wav: Path):
    pcm, rate = read_wav(speech_wav)
    pcm = resample(pcm, rate, 16000)[: 3 * 16000]
    for name, bitrate in (("focal-800", 800), ("focal-600", 600), ("focal-400", 400)):
        codec = get_codec(name)
        result = run_roundtrip(codec, pcm, 16000, lost={10, 11})
        assert codec.bitrate == bitrate
        assert result.pcm.shape == pcm.shape and np.isfinite(result.pcm).all()
        assert 0 < np.abs(result.pcm).max() < 4.0
        assert result.payload_bitrate == bitrate  # whole bytes, no padding
