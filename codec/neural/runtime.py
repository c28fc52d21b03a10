"""The neural codec at call time: onnxruntime sessions, no torch.

``focal-800``, ``focal-600`` and ``focal-400`` share one model (the shipped ONNX files in
``codec/neural/weights/``, or the export directory named by ``$FOCALCALL_NEURAL_WEIGHTS``, e.g.
to evaluate a candidate before shipping it); they differ only in how many of the 16 code bits
are sent.

Payload format (the browser implements the same): code bit i (i = 0 … bits-1, the i-th sign of
the binary spherical code; 1 means +1, 0 means -1) is stored in byte ``i // 8`` at bit
``7 - i % 8`` (most significant bit first). The payload is ``ceil(bits / 8)`` bytes: 2 bytes
for focal-800 and focal-600 (the last 4 bits of focal-600 are zero), 1 byte for focal-400.
Bits that are not sent reach the decoder as 0 (neither sign); a missing frame is all zeros.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from codec.base import Codec, CodecError, FrameDecoder, FrameEncoder
from codec.neural.concealer import CodeConcealer, CodePredictorModel

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
WEIGHTS_ENV = "FOCALCALL_NEURAL_WEIGHTS"  # overrides WEIGHTS_DIR for the registry's codecs
MODES = {"focal-800": 16, "focal-600": 12, "focal-400": 8}


def pack_bits(signs: np.ndarray, bits: int) -> bytes:
    """First ``bits`` signs (±1 floats) → ``ceil(bits/8)`` bytes, MSB first."""
    ones = np.zeros(8 * (-(-bits // 8)), dtype=np.uint8)
    ones[:bits] = signs[:bits] > 0
    return np.packbits(ones).tobytes()


def unpack_bits(payload: bytes, bits: int, total: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`: ``(total,)`` float32 of ±1 for sent bits, 0 for the rest."""
    raw = np.unpackbits(np.frombuffer(payload, dtype=np.uint8))
    if raw[bits:].any():
        raise CodecError(f"payload has bits set beyond the first {bits}: wrong codec mode?")
    signs = np.zeros(total, dtype=np.float32)
    signs[:bits] = np.where(raw[:bits] == 1, 1.0, -1.0)
    return signs


class NeuralModel:
    """The two ONNX sessions plus the facts in ``focal.json`` (shared by all streams)."""

    def __init__(self, directory: Path = WEIGHTS_DIR, threads: int = 1) -> None:
        import onnxruntime as ort

        meta_path = directory / "focal.json"
        if not meta_path.exists():
            raise CodecError(f"neural codec weights missing: {meta_path} "
                             f"(export them with 'focalcall codec export')")
        self.meta = json.loads(meta_path.read_text())
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        providers = ["CPUExecutionProvider"]
        self.encoder = ort.InferenceSession(str(directory / self.meta["encoder_onnx"]), options,
                                            providers=providers)
        self.decoder = ort.InferenceSession(str(directory / self.meta["decoder_onnx"]), options,
                                            providers=providers)
        self.bits = int(self.meta["bits"])
        self.hop = int(self.meta["hop"])
        self.predictor = CodePredictorModel.load(directory)  # frame-prediction concealment, if shipped


class FocalEncoder(FrameEncoder):
    """320 samples in → one packed code out; keeps the encoder state between calls."""

    def __init__(self, model: NeuralModel, bits: int) -> None:
        self.model, self.bits = model, bits
        self.state = np.zeros((1, model.meta["encoder_state_size"]), dtype=np.float32)

    def encode(self, pcm: np.ndarray) -> bytes:
        pcm = np.asarray(pcm)
        if pcm.shape != (self.model.hop,):
            raise CodecError(f"focal codecs encode frames of shape ({self.model.hop},), "
                             f"got {pcm.shape}")
        signs, self.state = self.model.encoder.run(
            None, {"pcm": pcm.astype(np.float32)[None], "state": self.state})
        return pack_bits(signs[0], self.bits)


class FocalDecoder(FrameDecoder):
    """One packed code (or ``None``: missing) in → 320 samples out, 40 ms behind the encoder."""

    def __init__(self, model: NeuralModel, bits: int) -> None:
        self.model, self.bits = model, bits
        self.nbytes = -(-bits // 8)
        self.state = np.zeros((1, model.meta["decoder_state_size"]), dtype=np.float32)
        self.concealer = CodeConcealer(model.predictor, bits)

    def decode(self, payload: bytes | None) -> np.ndarray:
        if payload is None:
            # The predicted next code, or all zeros (= no code) without a shipped predictor.
            signs = self.concealer.conceal(self.model.bits)
        else:
            if not isinstance(payload, (bytes, bytearray, memoryview)):
                raise CodecError(f"focal payload must be bytes, got {type(payload).__name__}")
            payload = bytes(payload)
            if len(payload) != self.nbytes:
                raise CodecError(f"focal-{self.bits * 50} payload must be {self.nbytes} bytes, "
                                 f"got {len(payload)}")
            signs = unpack_bits(payload, self.bits, self.model.bits)
            self.concealer.observe(signs)
        pcm, self.state = self.model.decoder.run(None, {"code": signs[None], "state": self.state})
        return pcm[0] * self.concealer.gain()


class FocalCodec(Codec):
    """One of the focal modes over a shared :class:`NeuralModel`."""

    sample_rate = 16000

    def __init__(self, name: str, model: NeuralModel) -> None:
        if name not in MODES:
            raise CodecError(f"unknown focal mode {name!r}; valid: {', '.join(MODES)}")
        self.name, self.model, self.bits = name, model, MODES[name]
        if self.bits > model.bits:
            raise CodecError(f"{name} needs {self.bits} bits, the model has {model.bits}")
        self.frame_samples = model.hop
        self.bitrate = float(self.bits * self.sample_rate // self.frame_samples)
        self.delay_samples = int(model.meta["delay_samples"])

    def encoder(self) -> FrameEncoder:
        return FocalEncoder(self.model, self.bits)

    def decoder(self) -> FrameDecoder:
        return FocalDecoder(self.model, self.bits)


_shared: NeuralModel | None = None


def make_codec(name: str) -> Codec:
    """Registry factory: the three modes share one loaded model."""
    global _shared
    if _shared is None:
        _shared = NeuralModel(Path(os.environ.get(WEIGHTS_ENV) or WEIGHTS_DIR))
    return FocalCodec(name, _shared)
