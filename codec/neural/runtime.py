"""The neural codec at call time: onnxruntime sessions, no torch.

``focal-800``, ``focal-600`` and ``focal-400`` share one model (the shipped ONNX files in
``codec/neural/weights/``, or the export directory named by ``$FOCALCALL_NEURAL_WEIGHTS``, e.g.
to evaluate a candidate before shipping it); they differ only in how many of the 16 code bits
are sent.

Payload format (the browser implements it for focal-800 and focal-400): code bit i (i = 0 …
bits-1, the i-th sign of the binary spherical code; 1 means +1, 0 means -1) of the k-th code in
the payload is stored at bit position ``n = k * bits + i``: byte ``n // 8``, bit ``7 - n % 8``
(most significant bit first). A payload carries as many consecutive codes as it takes to fill
whole bytes, so no bit is wasted: focal-800 one 16-bit code (2 bytes per 20 ms), focal-400 one
8-bit code (1 byte per 20 ms), focal-600 two 12-bit codes (3 bytes per 40 ms frame: 600 bit/s,
20 ms more latency). Bits that are not sent reach the decoder as 0 (neither sign); a missing
code is predicted by the concealer (all zeros without one).
"""
from __future__ import annotations

import json
import math
import os
from functools import cached_property
from pathlib import Path

import numpy as np

from codec.base import Codec, CodecError, FrameDecoder, FrameEncoder
from codec.neural.concealer import CodeConcealer, CodePredictorModel

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
WEIGHTS_ENV = "FOCALCALL_NEURAL_WEIGHTS"  # overrides WEIGHTS_DIR for the registry's codecs
MODES = {"focal-800": 16, "focal-600": 12, "focal-400": 8}


def codes_per_payload(bits: int) -> int:
    """Consecutive codes one payload carries so that it fills whole bytes (2 for 12 bits)."""
    return 8 // math.gcd(bits, 8)


def pack_codes(codes: np.ndarray, bits: int) -> bytes:
    """``(k, total)`` ±1 codes → their first ``bits`` signs, concatenated, MSB first."""
    codes = np.atleast_2d(codes)
    ones = np.zeros(8 * -(-codes.shape[0] * bits // 8), dtype=np.uint8)
    ones[:codes.shape[0] * bits] = (codes[:, :bits] > 0).reshape(-1)
    return np.packbits(ones).tobytes()


def unpack_codes(payload: bytes, bits: int, total: int, count: int) -> np.ndarray:
    """Inverse of :func:`pack_codes`: ``(count, total)`` float32, ±1 for sent bits, 0 beyond."""
    raw = np.unpackbits(np.frombuffer(payload, dtype=np.uint8))
    if raw[count * bits:].any():
        raise CodecError(f"payload has bits set beyond {count} codes of {bits} bits: wrong codec mode?")
    codes = np.zeros((count, total), dtype=np.float32)
    codes[:, :bits] = np.where(raw[:count * bits].reshape(count, bits) == 1, 1.0, -1.0)
    return codes


class NeuralModel:
    """The facts in ``focal.json`` and, built on first use, the ONNX sessions (shared by all
    streams): a codec only asked for its rate and latency (the relay's case) loads no model."""

    def __init__(self, directory: Path = WEIGHTS_DIR, threads: int = 1) -> None:
        meta_path = directory / "focal.json"
        if not meta_path.exists():
            raise CodecError(f"neural codec weights missing: {meta_path} "
                             f"(export them with 'focalcall codec export')")
        self.directory, self.threads = directory, threads
        self.meta = json.loads(meta_path.read_text())
        self.bits = int(self.meta["bits"])
        self.hop = int(self.meta["hop"])

    @cached_property
    def encoder(self):
        """The encoder's onnxruntime session."""
        return self._session(self.meta["encoder_onnx"])

    @cached_property
    def decoder(self):
        """The decoder's onnxruntime session."""
        return self._session(self.meta["decoder_onnx"])

    @cached_property
    def predictor(self) -> CodePredictorModel | None:
        """The frame-prediction concealer's model, if one is shipped for this encoder."""
        return CodePredictorModel.load(self.directory)

    def _session(self, name: str):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        return ort.InferenceSession(str(self.directory / name), options, providers=["CPUExecutionProvider"])


class FocalEncoder(FrameEncoder):
    """One frame (``codes × 320`` samples) in → its packed codes out; keeps the encoder state."""

    def __init__(self, model: NeuralModel, bits: int) -> None:
        self.model, self.bits = model, bits
        self.codes = codes_per_payload(bits)
        self.state = np.zeros((1, model.meta["encoder_state_size"]), dtype=np.float32)

    def encode(self, pcm: np.ndarray) -> bytes:
        pcm = np.asarray(pcm)
        hop = self.model.hop
        if pcm.shape != (self.codes * hop,):
            raise CodecError(f"focal-{self.bits * 50} encodes frames of shape ({self.codes * hop},), "
                             f"got {pcm.shape}")
        codes = []
        for k in range(self.codes):
            signs, self.state = self.model.encoder.run(
                None, {"pcm": pcm[k * hop:(k + 1) * hop].astype(np.float32)[None], "state": self.state})
            codes.append(signs[0])
        return pack_codes(np.stack(codes), self.bits)


class FocalDecoder(FrameDecoder):
    """A payload (or ``None``: missing) in → ``codes × 320`` samples, ``delay_samples`` late."""

    def __init__(self, model: NeuralModel, bits: int, concealment: str | None = None) -> None:
        self.model, self.bits = model, bits
        self.codes = codes_per_payload(bits)
        self.nbytes = self.codes * bits // 8
        self.state = np.zeros((1, model.meta["decoder_state_size"]), dtype=np.float32)
        self.concealer = CodeConcealer(model.predictor, bits, concealment)

    def decode(self, payload: bytes | None) -> np.ndarray:
        if payload is None:
            codes = None
        else:
            if not isinstance(payload, (bytes, bytearray, memoryview)):
                raise CodecError(f"focal payload must be bytes, got {type(payload).__name__}")
            payload = bytes(payload)
            if len(payload) != self.nbytes:
                raise CodecError(f"focal-{self.bits * 50} payload must be {self.nbytes} bytes, "
                                 f"got {len(payload)}")
            codes = unpack_codes(payload, self.bits, self.model.bits, self.codes)
        out = []
        for k in range(self.codes):
            if codes is None:
                # The predicted next code, or all zeros (= no code) without a shipped predictor.
                signs = self.concealer.conceal(self.model.bits)
            else:
                signs = codes[k]
                self.concealer.observe(signs)
            pcm, self.state = self.model.decoder.run(None, {"code": signs[None], "state": self.state})
            out.append(pcm[0] * self.concealer.gain())
        return np.concatenate(out)


class FocalCodec(Codec):
    """One of the focal modes over a shared :class:`NeuralModel`."""

    sample_rate = 16000

    def __init__(self, name: str, model: NeuralModel, concealment: str | None = None) -> None:
        if name not in MODES:
            raise CodecError(f"unknown focal mode {name!r}; valid: {', '.join(MODES)}")
        self.name, self.model, self.bits = name, model, MODES[name]
        if self.bits > model.bits:
            raise CodecError(f"{name} needs {self.bits} bits, the model has {model.bits}")
        self.frame_samples = model.hop * codes_per_payload(self.bits)
        self.bitrate = float(self.bits * self.sample_rate // model.hop)
        self.delay_samples = int(model.meta["delay_samples"])
        self.concealment = concealment  # codec.neural.concealer.MODES; None: the shipped default

    def encoder(self) -> FrameEncoder:
        return FocalEncoder(self.model, self.bits)

    def decoder(self) -> FrameDecoder:
        return FocalDecoder(self.model, self.bits, self.concealment)


_shared: NeuralModel | None = None


def weights_dir() -> Path:
    """The weights the registry's focal codecs load: ``$FOCALCALL_NEURAL_WEIGHTS`` or the shipped ones."""
    return Path(os.environ.get(WEIGHTS_ENV) or WEIGHTS_DIR)


def weights_description(weights: Path | None = None) -> str:
    """``"training step N: note"`` from an export's ``focal.json`` (default: :func:`weights_dir`)."""
    meta = json.loads(((weights or weights_dir()) / "focal.json").read_text())
    return f"training step {meta.get('training_step')}: {meta.get('note', '')}"


def make_codec(name: str) -> Codec:
    """Registry factory: the three modes share one loaded model."""
    global _shared
    if _shared is None:
        _shared = NeuralModel(weights_dir())
    return FocalCodec(name, _shared)
