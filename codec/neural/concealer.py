"""Frame-prediction concealment at call time (onnxruntime, no torch).

The decoder's concealer watches every code it decodes; when a frame is missing it offers the
predicted code instead (the expected signs, ``tanh(logit / 2)``) and tells the predictor the
frame is unknown (an all-zero code, as in training), so a burst is predicted step by step from
what was heard and how long the burst has lasted. Past :data:`FADE_AFTER_FRAMES` missing frames
(120 ms) the guess is no longer speech anyone said, so the output fades to silence over
:data:`FADE_FRAMES` frames and stays there until real codes return.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from codec.neural.predictor_files import PREDICTOR_META, encoder_fingerprint

logger = logging.getLogger(__name__)

FADE_AFTER_FRAMES = 6
FADE_FRAMES = 4
MODES = ("predict", "repeat", "missing")  # what stands in for a missing code


class CodePredictorModel:
    """The shipped predictor's ONNX session and metadata (shared by all streams)."""

    def __init__(self, directory: Path, threads: int = 1) -> None:
        import onnxruntime as ort

        self.meta = json.loads((directory / PREDICTOR_META).read_text())
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(directory / self.meta["onnx"]), options,
                                            providers=["CPUExecutionProvider"])
        self.bits, self.hidden = int(self.meta["bits"]), int(self.meta["hidden"])

    @classmethod
    def load(cls, directory: Path) -> "CodePredictorModel | None":
        """The predictor shipped in ``directory``, or ``None`` when there is none or it was
        trained on another encoder's codes (its guesses would be noise: retrain it)."""
        if not (directory / PREDICTOR_META).exists():
            return None
        trained_on = json.loads((directory / PREDICTOR_META).read_text()).get("encoder_sha256")
        if trained_on != encoder_fingerprint(directory):
            logger.warning("ignoring %s: trained on another encoder's codes "
                           "(retrain it: focalcall codec train-concealer)", directory / PREDICTOR_META)
            return None
        return cls(directory)


class CodeConcealer:
    """Per-stream state: the predictor's memory and the current run of missing frames.

    ``mode`` says what stands in for a missing code: ``"predict"`` (the predictor's guess; the
    default when one is shipped), ``"repeat"`` (the last code decoded) or ``"missing"`` (all
    zeros, "no code"; the default without a predictor).
    """

    def __init__(self, model: CodePredictorModel | None, sent_bits: int, mode: str | None = None) -> None:
        mode = mode or ("predict" if model else "missing")
        if mode not in MODES:
            raise ValueError(f"unknown concealment mode {mode!r}; valid: {', '.join(MODES)}")
        if mode == "predict" and model is None:
            raise ValueError("concealment mode 'predict' needs a shipped predictor")
        self.model = model if mode == "predict" else None
        self.mode = mode
        self.sent_bits = sent_bits
        self.missing_run = 0
        self._last: np.ndarray | None = None
        self._state = np.zeros((1, model.hidden), dtype=np.float32) if self.model else None
        self._logits = np.zeros((1, model.bits), dtype=np.float32) if self.model else None

    def observe(self, code: np.ndarray) -> None:
        """Account a real code (±1, 0 for bits not sent) that goes to the decoder."""
        self.missing_run = 0
        self._last = code
        self._step(code)

    def conceal(self, bits: int) -> np.ndarray:
        """The code to decode in place of a missing frame."""
        self.missing_run += 1
        if self.mode == "repeat" and self._last is not None:
            return self._last.copy()
        if self.model is None:
            return np.zeros(bits, dtype=np.float32)
        guess = np.tanh(self._logits[0] / 2).astype(np.float32)
        guess[self.sent_bits:] = 0.0  # never more than the stream's mode carries
        self._step(np.zeros(bits, dtype=np.float32))  # the predictor hears "unknown", as trained
        return guess

    def gain(self) -> float:
        """Output gain for the frame just decoded: 1, then a fade after a long burst."""
        over = self.missing_run - FADE_AFTER_FRAMES
        return 1.0 if over <= 0 else max(0.0, 1.0 - over / FADE_FRAMES)

    def _step(self, code: np.ndarray) -> None:
        if self.model is None:
            return
        self._logits, self._state = self.model.session.run(
            None, {"code": code.astype(np.float32)[None, :self.model.bits], "state": self._state})
