"""Frame-prediction concealment, training side: a small causal model of the next code.

A lost frame's code is predicted from the codes before it (received or themselves predicted),
so the decoder continues from its own state with a plausible code instead of "no code".
Trained on the codes the shipped encoder gives the training corpus; retrain it whenever the
codec is retrained (``focalcall codec train-concealer``). Runtime: :mod:`codec.neural.concealer`.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from codec.neural.predictor_files import PREDICTOR_META, PREDICTOR_ONNX, encoder_fingerprint

logger = logging.getLogger(__name__)


class CodePredictor(nn.Module):
    """Causal GRU over codes: (B, T, bits) of ±1 (0 = unknown) → (B, T, bits) logits of code t+1."""

    def __init__(self, bits: int = 16, hidden: int = 64) -> None:
        super().__init__()
        self.bits, self.hidden = bits, hidden
        self.embed = nn.Linear(bits, hidden)
        self.gru = nn.GRU(hidden, hidden, batch_first=True)
        self.out = nn.Linear(hidden, bits)

    def forward(self, codes: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """codes (B, T, bits), state (1, B, hidden) → logits (B, T, bits), state (1, B, hidden)."""
        y, state = self.gru(torch.tanh(self.embed(codes)), state)
        return self.out(y), state


class PredictorStep(nn.Module):
    """One streaming step for ONNX: code (1, bits), state (1, hidden) → logits (1, bits), state."""

    def __init__(self, predictor: CodePredictor) -> None:
        super().__init__()
        self.predictor = predictor

    def forward(self, code: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, new_state = self.predictor(code[:, None, :], state[None])
        return logits[:, 0], new_state[0]


@dataclass
class PredictorReport:
    """Bit accuracy of the guesses for frames lost in bursts of 1-8 on held-out clips, and of
    repeating the last code heard."""

    model: float
    repeat_last: float
    steps: int
    train_frames: int
    valid_frames: int


def encode_corpus(manifest_dir: Path, weights_dir: Path, max_clips: int | None = None) -> dict[str, list[np.ndarray]]:
    """Codes (T, bits) of ±1 of every clip of a corpus, by split, from the shipped ONNX encoder."""
    from codec.data.manifest import read_manifest
    from codec.neural.runtime import NeuralModel
    from codec.wavio import read_wav

    model = NeuralModel(weights_dir)
    out: dict[str, list[np.ndarray]] = {"train": [], "valid": []}
    for entry in read_manifest(manifest_dir)[:max_clips]:
        pcm = read_wav(manifest_dir / entry.path, model.meta["sample_rate"])
        state = np.zeros((1, model.meta["encoder_state_size"]), dtype=np.float32)
        codes = []
        for start in range(0, len(pcm) - model.hop + 1, model.hop):
            frame = pcm[start:start + model.hop].astype(np.float32)[None]
            signs, state = model.encoder.run(None, {"pcm": frame, "state": state})
            codes.append(np.sign(signs[0]).astype(np.float32))
        if len(codes) > 1:
            out["valid" if entry.split == "valid" else "train"].append(np.stack(codes))
    return out


def _batches(seqs: list[np.ndarray], length: int, batch: int, rng: np.random.Generator):
    usable = [s for s in seqs if len(s) > length + 1]
    while True:
        rows = []
        for _ in range(batch):
            s = usable[rng.integers(len(usable))]
            start = rng.integers(len(s) - length - 1)
            rows.append(s[start:start + length + 1])
        yield torch.from_numpy(np.stack(rows))


def burst_mask(batch: int, length: int, rng: np.random.Generator, start_prob: float = 0.06,
               max_burst: int = 8) -> torch.Tensor:
    """``(batch, length, 1)``: 1 where a code is known, 0 inside bursts of 1..``max_burst``
    unknown frames (a burst starts at a frame with ``start_prob``), as lost packets leave them."""
    mask = np.ones((batch, length, 1), dtype=np.float32)
    starts = np.argwhere(rng.random((batch, length)) < start_prob)
    for row, start in starts:
        mask[row, start:start + rng.integers(1, max_burst + 1)] = 0.0
    return torch.from_numpy(mask)


def burst_accuracy(predictor: CodePredictor, seqs: list[np.ndarray], seed: int = 1) -> tuple[float, float]:
    """(model, repeat-last-known-code) share of bits guessed right for the frames lost in
    bursts of 1-8: the codes a concealer has to stand in."""
    rng = np.random.default_rng(seed)
    hits = base = total = 0
    with torch.no_grad():
        for s in seqs:
            codes = torch.from_numpy(s)[None]
            known = burst_mask(1, len(s), rng)
            known[:, 0] = 1.0  # a stream starts with a code
            logits, _ = predictor(codes[:, :-1] * known[:, :-1])
            lost = known[0, 1:, 0] == 0
            last = codes[0].clone()
            for t in range(1, len(s)):  # the last code heard, carried through a burst
                if known[0, t, 0] == 0:
                    last[t] = last[t - 1]
            guess = (logits[0] > 0).float() * 2 - 1
            hits += int((guess[lost] == codes[0, 1:][lost]).sum())
            base += int((last[:-1][lost] == codes[0, 1:][lost]).sum())
            total += int(lost.sum()) * s.shape[1]
    return hits / max(1, total), base / max(1, total)


def train_predictor(codes: dict[str, list[np.ndarray]], steps: int = 2000, hidden: int = 64,
                    length: int = 64, batch: int = 32, seed: int = 0) -> tuple[CodePredictor, PredictorReport]:
    """Next-code training on sequences with bursts of unknown (zero) codes, as lost packets
    leave them: the model learns to predict through a burst knowing only how long it has
    lasted (at call time a concealed frame is fed back as unknown too, never as its guess)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    train, valid = codes["train"], codes["valid"] or codes["train"][-2:]
    if not any(len(s) > length + 1 for s in train):
        raise ValueError(f"no training clip is longer than {length + 1} frames")
    bits = train[0].shape[1]
    predictor = CodePredictor(bits, hidden)
    optimizer = torch.optim.AdamW(predictor.parameters(), lr=3e-3, weight_decay=1e-4)
    loss_fn = nn.BCEWithLogitsLoss(reduction="none")
    for step, seq in zip(range(steps), _batches(train, length, batch, rng)):
        known = burst_mask(seq.shape[0], length + 1, rng)
        logits, _ = predictor(seq[:, :-1] * known[:, :-1])
        per_frame = loss_fn(logits, (seq[:, 1:] + 1) / 2).mean(dim=-1)
        lost = 1.0 - known[:, 1:, 0]  # the predictions a concealer uses count once more
        loss = per_frame.mean() + (per_frame * lost).sum() / lost.sum().clamp(min=1.0)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(predictor.parameters(), 1.0)
        optimizer.step()
        if step % 200 == 0:
            logger.info("step %d loss %.4f", step, loss.item())
    model_acc, repeat_acc = burst_accuracy(predictor, valid)
    report = PredictorReport(model_acc, repeat_acc, steps, sum(map(len, train)), sum(map(len, valid)))
    return predictor, report


def export_predictor(predictor: CodePredictor, report: PredictorReport, out_dir: Path, note: str = "") -> Path:
    """Write ``focal_predictor.onnx`` and its metadata next to the codec's weights."""
    step = PredictorStep(predictor.eval())
    code = torch.zeros(1, predictor.bits)
    state = torch.zeros(1, predictor.hidden)
    path = out_dir / PREDICTOR_ONNX
    torch.onnx.export(step, (code, state), str(path), input_names=["code", "state"],
                      output_names=["logits", "next_state"], opset_version=17, dynamo=False)
    meta = {"onnx": PREDICTOR_ONNX, "bits": predictor.bits, "hidden": predictor.hidden,
            "burst_bit_accuracy": round(report.model, 4),
            "repeat_last_burst_bit_accuracy": round(report.repeat_last, 4),
            "steps": report.steps, "train_frames": report.train_frames, "valid_frames": report.valid_frames,
            "note": note,
            "encoder_sha256": encoder_fingerprint(out_dir) if (out_dir / "focal.json").exists() else None}
    (out_dir / PREDICTOR_META).write_text(json.dumps(meta, indent=2) + "\n")
    return path
