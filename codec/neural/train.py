"""Codec training: causal distillation, reconstruction, joint fine-tuning.

A run is described by one config file (see ``codec/neural/configs/``) with ``model``,
``data``, ``train`` and ``stages`` sections. Stages run in order; each names the parts it
trains (``encoder``, ``quantizer``, ``decoder``) and the weights of its losses:

- ``distill``: causal encoder features (through ``distill_head``) vs frozen Whisper-base
  encoder features of the *clean* clip, frame by frame;
- ``stft``, ``mel``: multi-resolution STFT and log-mel L1 between the decoded audio of the
  (possibly noisy) input and the clean target (joint denoising);
- ``phase``: magnitude-weighted instantaneous-frequency and group-delay match between decoded
  audio and clean target (coherent phase without asking for absolute phase; STFT sizes and
  weight power and lags along frequency from ``train.phase_resolutions``,
  ``train.phase_weight_power`` and ``train.phase_freq_lags``);
- ``overlap``: frame consistency, how much the head's consecutive synthesis frames disagree
  where they overlap (:func:`~codec.neural.losses.overlap_disagreement`);
- ``adv``, ``fm``: hinge adversarial and feature-matching losses from the spectrogram
  discriminator (which is trained whenever either weight is non-zero; ``train.disc_input``
  picks whether it sees log-magnitude or compressed complex spectra);
- ``entropy``: BSQ per-frame bit entropy minus bit-usage entropy;
- ``asr``: Whisper-base's encoder features of the decoded audio vs of the clean target
  (:class:`~codec.neural.losses.RecognizerLoss`): what a recogniser hears, not just the spectrum;
- ``teacher``: the decoder's features (through ``teacher_head``) rebuild the teacher's features
  of the clean clip from the *codes* (FocalCodec's decompressor), so the bits learn phonetics;
- ``f0``, ``voicing``, ``mcep``, ``ap``: the source-filter head's parameters against WORLD
  targets of the clean clip (:mod:`codec.neural.parameter_losses`).

Decoder-side targets (teacher, parameters) line up with the decoder's look-ahead: its step j
describes frame j - ``decoder_lookahead``.

Bit dropout: each crop keeps the first k of B bits with k drawn from ``bit_options``; frames are
dropped entirely (all bits zero = "missing"), ``missing_prob`` of them in bursts of up to
``missing_burst_max``, so the decoder learns to conceal lost packets. Each stage's learning rate follows a cosine from ``lr_start`` to ``lr_end``
(multipliers of ``train.lr``). Checkpoints (``last.pt`` every ``checkpoint_every`` steps,
``best.pt`` by validation mel loss) carry the model, optimisers, step and the full config; a
run resumes from ``last.pt`` automatically, and a run without one may start from another
run's model and step (``train.init_from``). ``snapshot_every`` also keeps ``step-NNNNN.pt``
(model and config only) to pick from later, since the mel loss cannot judge an adversarial
stage. Losses are appended to ``losses.jsonl``.
"""
from __future__ import annotations

import json
import logging
import math
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from codec.neural.config import HOP, SAMPLE_RATE, ModelConfig, load_config_file
from codec.neural.dataset import CropDataset, DataConfig, crop_targets, load_clip, read_manifests
from codec.neural.discriminator import INPUTS, MultiResolutionDiscriminator
from codec.neural.losses import (STFT_RESOLUTIONS, MelLoss, MultiResolutionSTFTLoss,
                                 PhaseDerivativeLoss, check_phase_settings, check_resolutions,
                                 discriminator_loss, distillation_loss, feature_matching_loss,
                                 generator_loss, overlap_disagreement, RecognizerLoss)
from codec.neural.model import FocalCodecModel
from codec.neural.parameter_losses import PARAMETER_LOSSES, parameter_errors, parameter_losses
from codec.neural.quantizer import bits_mask

log = logging.getLogger(__name__)

PARTS = ("encoder", "quantizer", "decoder")
LOSSES = ("distill", "stft", "mel", "phase", "overlap", "adv", "fm", "entropy", "teacher", "asr",
          *PARAMETER_LOSSES)


@dataclass
class StageConfig:
    """One training stage: how long, which parts learn, which losses count."""

    name: str
    steps: int
    train: list[str] = field(default_factory=lambda: list(PARTS))
    weights: dict[str, float] = field(default_factory=dict)
    lr_start: float = 1.0  # learning-rate multiplier at the stage's first step
    lr_end: float = 1.0    # multiplier reached at the stage's end (cosine from lr_start)

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ValueError(f"stage {self.name}: steps must be >= 0")
        for name in ("lr_start", "lr_end"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"stage {self.name}: {name} must lie in [0, 1]")
        bad = set(self.train) - set(PARTS)
        if bad or not self.train:
            raise ValueError(f"stage {self.name}: train must be a non-empty subset of {PARTS}")
        bad = set(self.weights) - set(LOSSES)
        if bad:
            raise ValueError(f"stage {self.name}: unknown losses {sorted(bad)} (known: {LOSSES})")
        if not any(w > 0 for w in self.weights.values()):
            raise ValueError(f"stage {self.name}: needs at least one positive loss weight")

    def w(self, name: str) -> float:
        return float(self.weights.get(name, 0.0))

    @property
    def decodes(self) -> bool:
        """Whether the stage synthesises audio (its losses compare waveforms)."""
        return any(self.w(n) > 0 for n in ("stft", "mel", "phase", "overlap", "adv", "fm", "asr"))

    @property
    def uses_parameters(self) -> bool:
        return any(self.w(n) > 0 for n in PARAMETER_LOSSES)

    @property
    def runs_decoder(self) -> bool:
        return self.decodes or self.uses_parameters or self.w("teacher") > 0


@dataclass
class OptimConfig:
    """Optimiser, schedule, run bookkeeping."""

    run_dir: str = "runs/focal"
    lr: float = 5e-4
    lr_disc: float = 2e-4
    weight_decay: float = 0.01
    warmup_steps: int = 200
    grad_clip: float = 1.0
    bit_probs: list[float] = field(default_factory=lambda: [0.6, 0.2, 0.2])
    missing_prob: float = 0.03  # share of frames whose code is missing (all bits zero)
    missing_burst_max: int = 1  # missing frames come in bursts of 1..this many (uniform)
    disc_channels: int = 16
    disc_input: str = "magnitude"  # or "complex": see codec/neural/discriminator.py
    log_every: int = 10
    checkpoint_every: int = 100
    snapshot_every: int = 0  # 0: no step-NNNNN.pt snapshots
    init_from: str = ""  # checkpoint starting a run that has no last.pt yet (see Trainer.resume)
    init_skip: list[str] = field(default_factory=list)  # init_from's parameters left out, by prefix
    init_step: int = -1  # the step a run grown from init_from starts at; -1: the checkpoint's own
    stft_resolutions: list[list[int]] = field(
        default_factory=lambda: [list(r) for r in STFT_RESOLUTIONS])
    phase_resolutions: list[list[int]] = field(default_factory=lambda: [[512, 128]])
    phase_weight_power: float = 1.0  # the phase loss weighs bins by |target| ** this
    phase_freq_lags: list[int] = field(default_factory=lambda: [1])  # bins apart, along frequency
    valid_every: int = 200
    seed: int = 0
    threads: int = 1
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.lr_disc <= 0:
            raise ValueError("train.lr and train.lr_disc must be positive")
        if not 0 <= self.missing_prob < 1:
            raise ValueError("train.missing_prob must lie in [0, 1)")
        if self.missing_burst_max < 1:
            raise ValueError("train.missing_burst_max must be at least 1")
        if any(p < 0 for p in self.bit_probs) or sum(self.bit_probs) <= 0:
            raise ValueError("train.bit_probs must be non-negative with a positive sum")
        if self.disc_input not in INPUTS:
            raise ValueError(f"train.disc_input must be one of {INPUTS}")
        check_resolutions("train.stft_resolutions", self.stft_resolutions)
        check_phase_settings(self.phase_resolutions, self.phase_weight_power, self.phase_freq_lags)


@dataclass
class RunConfig:
    """A whole training run as read from its config file."""

    model: ModelConfig
    data: DataConfig
    train: OptimConfig
    stages: list[StageConfig]

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError("config needs at least one stage")
        if len(self.train.bit_probs) != len(self.model.bit_options):
            raise ValueError("train.bit_probs needs one probability per model.bit_options entry")
        for stage in self.stages:
            if stage.uses_parameters and self.model.head != "source_filter":
                raise ValueError(f"stage {stage.name}: parameter losses need model.head: source_filter")
            if stage.w("teacher") > 0 and not self.model.decoder_teacher:
                raise ValueError(f"stage {stage.name}: the teacher loss needs model.decoder_teacher")
            if stage.w("overlap") > 0 and self.model.head != "istft":
                raise ValueError(f"stage {stage.name}: the overlap loss needs the iSTFT head")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunConfig":
        unknown = set(data) - {"model", "data", "train", "stages"}
        if unknown:
            raise ValueError(f"unknown config sections: {sorted(unknown)}")
        try:
            return cls(model=ModelConfig.from_dict(data.get("model", {})),
                       data=DataConfig(**data.get("data", {})),
                       train=OptimConfig(**data.get("train", {})),
                       stages=[StageConfig(**s) for s in data.get("stages", [])])
        except TypeError as exc:  # unknown keyword in a section
            raise ValueError(f"bad config: {exc}") from None

    @classmethod
    def load(cls, path: str | Path) -> "RunConfig":
        return cls.from_dict(load_config_file(path))

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model.to_dict(), "data": asdict(self.data),
                "train": asdict(self.train), "stages": [asdict(s) for s in self.stages]}

    @property
    def total_steps(self) -> int:
        return sum(s.steps for s in self.stages)

    def stage_at(self, step: int) -> StageConfig:
        """The stage that step ``step`` (0-based) belongs to."""
        return self.stage_progress(step)[0]

    def stage_progress(self, step: int) -> tuple[StageConfig, float]:
        """The stage of step ``step`` (0-based) and how far into it the step lies (0..1)."""
        for stage in self.stages:
            if step < stage.steps:
                return stage, step / stage.steps
            step -= stage.steps
        return self.stages[-1], 1.0


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def build_teacher_cache(config: RunConfig, device: torch.device) -> None:
    """Compute Whisper-base features of every clean train and valid clip once (skips cached ones)."""
    from codec.neural.teacher_cache import fill_cache

    manifests = config.data.manifest
    manifests = [manifests] if isinstance(manifests, (str, Path)) else list(manifests)
    fill_cache([str(m) for m in manifests], Path(config.data.teacher_cache), device=device)


def build_target_cache(config: RunConfig) -> None:
    """Compute the source-filter targets of every clean train and valid clip once."""
    from codec.neural.targets import fill_cache

    manifests = config.data.manifest
    manifests = [manifests] if isinstance(manifests, (str, Path)) else list(manifests)
    fill_cache([str(m) for m in manifests], Path(config.data.targets_cache))


class Trainer:
    """Owns the model, discriminator, optimisers and the loop for one run."""

    def __init__(self, config: RunConfig, run_dir: Path | None = None) -> None:
        self.config = config
        t = config.train
        self.run_dir = Path(run_dir or t.run_dir)
        self.device = pick_device(t.device)
        if self.device.type == "cpu":
            torch.set_num_threads(t.threads)
        torch.manual_seed(t.seed)
        self.model = FocalCodecModel(config.model).to(self.device)
        self.disc = MultiResolutionDiscriminator(t.disc_channels, t.disc_input).to(self.device)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=t.lr, betas=(0.8, 0.99),
                                     weight_decay=t.weight_decay)
        self.opt_d = torch.optim.AdamW(self.disc.parameters(), lr=t.lr_disc, betas=(0.8, 0.99))
        self.stft_loss = MultiResolutionSTFTLoss(
            tuple(map(tuple, t.stft_resolutions))).to(self.device)
        self.phase_loss = PhaseDerivativeLoss(tuple(map(tuple, t.phase_resolutions)),
                                              t.phase_weight_power,
                                              tuple(t.phase_freq_lags)).to(self.device)
        self.mel_loss = MelLoss().to(self.device)
        self.asr_loss = (recognizer_loss().to(self.device)
                         if any(s.w("asr") > 0 for s in config.stages) else None)
        self.step = 0
        self.best = math.inf
        # What the model has cost so far: CPU seconds of the training processes and seconds of
        # audio in the batches, this run's and (``inherited``) those of the runs it grew from.
        self.budget = {"cpu_s": 0.0, "audio_s": 0.0, "inherited_cpu_s": 0.0,
                       "inherited_audio_s": 0.0, "inherited_steps": 0}
        self.rng = np.random.default_rng(t.seed)
        self.amp = (torch.autocast("cuda", dtype=torch.bfloat16) if self.device.type == "cuda"
                    else nullcontext())

    # ---- checkpoints ---------------------------------------------------------------------

    def save(self, name: str, model_only: bool = False) -> Path:
        """Write a checkpoint atomically; ``model_only`` leaves out discriminator and optimisers."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / name
        tmp = path.with_suffix(".tmp")
        ckpt = {"model": self.model.state_dict(), "step": self.step, "best": self.best,
                "budget": dict(self.budget),
                "config": self.config.to_dict()}
        if not model_only:
            ckpt.update(disc=self.disc.state_dict(), opt=self.opt.state_dict(),
                        opt_d=self.opt_d.state_dict())
        torch.save(ckpt, tmp)
        tmp.replace(path)
        return path

    def resume(self) -> bool:
        """Load ``last.pt`` of the run directory if there is one, else ``train.init_from``'s model."""
        path = self.run_dir / "last.pt"
        if not path.exists():
            init = self.config.train.init_from
            return self._start_from(Path(init)) if init else False
        ckpt = torch.load(path, map_location=self.device, weights_only=False)
        self.model.load_state_dict(ckpt["model"])
        self.opt.load_state_dict(ckpt["opt"])
        saved_input = ckpt["config"]["train"].get("disc_input", "magnitude")
        if saved_input == self.config.train.disc_input:
            self.disc.load_state_dict(ckpt["disc"])
            self.opt_d.load_state_dict(ckpt["opt_d"])
        else:  # the run goes on with another kind of discriminator: it starts untrained
            log.info("discriminator input changed from %s to %s: starting it afresh",
                     saved_input, self.config.train.disc_input)
        self.step, self.best = int(ckpt["step"]), float(ckpt["best"])
        self.budget.update(ckpt.get("budget", {}))
        log.info("resumed %s at step %d", path, self.step)
        return True

    def _start_from(self, path: Path) -> bool:
        """A new run from another run's model weights and step; optimisers start afresh.

        Parameters the checkpoint lacks (a module this config adds) keep their initialisation;
        parameters this model lacks are an error.
        """
        if not path.exists():
            raise FileNotFoundError(f"train.init_from: {path} does not exist")
        ckpt = torch.load(path, map_location=self.device, weights_only=False)
        skip = tuple(self.config.train.init_skip)
        weights = {k: v.float() for k, v in ckpt["model"].items()
                   if not (skip and k.startswith(skip))}
        result = self.model.load_state_dict(weights, strict=False)
        if result.unexpected_keys:
            raise ValueError(f"train.init_from: {path} holds weights this model lacks: "
                             f"{', '.join(result.unexpected_keys)}")
        init_step = self.config.train.init_step
        self.step = int(ckpt["step"]) if init_step < 0 else init_step
        parent = ckpt.get("budget") or {}
        self.budget.update(
            inherited_cpu_s=parent.get("cpu_s", 0.0) + parent.get("inherited_cpu_s", 0.0),
            inherited_audio_s=parent.get("audio_s", 0.0) + parent.get("inherited_audio_s", 0.0),
            inherited_steps=ckpt.get("step", 0) + parent.get("inherited_steps", 0))
        log.info("started from %s at step %d; fresh: %s", path, self.step,
                 ", ".join(result.missing_keys) or "nothing")
        return True

    # ---- one step ------------------------------------------------------------------------

    def _lr_scale(self) -> float:
        """Linear warm-up over the run's first steps, then the stage's cosine from ``lr_start``
        to ``lr_end``."""
        warm = self.config.train.warmup_steps
        warmup = min(1.0, (self.step + 1) / warm) if warm > 0 else 1.0
        stage, progress = self.config.stage_progress(self.step)
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        decay = stage.lr_end + (stage.lr_start - stage.lr_end) * cosine
        return warmup * decay

    def _set_trainable(self, stage: StageConfig) -> None:
        parts = {"encoder": [self.model.frontend, self.model.encoder_in, self.model.encoder,
                             self.model.distill_head],
                 "quantizer": [self.model.quantizer],
                 "decoder": [self.model.decoder, self.model.head,
                             *([self.model.teacher_head] if self.model.teacher_head else [])]}
        for name, modules in parts.items():
            for module in modules:
                module.requires_grad_(name in stage.train)

    def _mask(self, batch: int, frames: int) -> torch.Tensor:
        """Bit-dropout mask ``(B, T, bits)``: per crop a bit budget, and missing frames in bursts."""
        m, t = self.config.model, self.config.train
        probs = np.asarray(t.bit_probs, dtype=np.float64)
        keep = self.rng.choice(m.bit_options, size=batch, p=probs / probs.sum())
        keep = torch.as_tensor(keep, device=self.device)[:, None].expand(batch, frames)
        mask = bits_mask(m.bits, keep)
        missing = torch.as_tensor(self._missing(batch, frames), device=self.device)
        return mask * (~missing)[..., None].float()

    def _missing(self, batch: int, frames: int) -> np.ndarray:
        """Which frames lose their code ``(B, T)``: bursts of 1..``missing_burst_max`` frames
        (uniform) start where ``missing_prob`` over the mean burst length says, so about
        ``missing_prob`` of all frames are missing, as a lossy link with concealment would leave."""
        t = self.config.train
        longest = t.missing_burst_max
        starts = self.rng.random((batch, frames)) < t.missing_prob * 2 / (longest + 1)
        lengths = self.rng.integers(1, longest + 1, size=(batch, frames))
        missing = np.zeros((batch, frames), dtype=bool)
        for row, col in zip(*np.nonzero(starts)):
            missing[row, col:col + lengths[row, col]] = True
        return missing

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One optimisation step on ``batch``; returns the logged losses."""
        stage = self.config.stage_at(self.step)
        self._set_trainable(stage)
        self.model.train()
        for group in self.opt.param_groups:
            group["lr"] = self.config.train.lr * self._lr_scale()
        clean = batch["clean"].to(self.device)
        noisy = batch["noisy"].to(self.device)
        logs: dict[str, float] = {}
        total = clean.new_zeros(())
        with self.amp:
            if stage.runs_decoder:
                out = self.model(noisy, self._mask(*noisy.shape[:1], noisy.shape[1] // HOP),
                                 synthesize=stage.decodes)
                features, u, frames = out.features, out.u, out.frames
                if stage.decodes:
                    # Output lags input by delay_samples: compare the overlapping parts.
                    delay = self.model.delay_samples
                    estimate = out.audio[:, delay:].float()
                    target = clean[:, : clean.shape[1] - delay]
            else:
                features = self.model.encode_features(noisy)
                u = self.model.quantizer.project(features)
            if stage.w("distill") > 0:
                pred = self.model.distill_head(features).float()
                loss = distillation_loss(pred, batch["teacher"].to(self.device),
                                         batch["teacher_mask"].to(self.device))
                logs["distill"] = float(loss.detach())
                total = total + stage.w("distill") * loss
            if stage.w("teacher") > 0 or stage.uses_parameters:
                total = total + self._decoder_targets(stage, out.hidden, batch, logs)
            if stage.w("entropy") > 0:
                loss = self.model.quantizer.entropy_loss(u.float())
                logs["entropy"] = float(loss.detach())
                total = total + stage.w("entropy") * loss
        if stage.decodes:
            if stage.w("stft") > 0:
                loss = self.stft_loss(estimate, target)
                logs["stft"] = float(loss.detach())
                total = total + stage.w("stft") * loss
            if stage.w("phase") > 0:
                loss = self.phase_loss(estimate, target)
                logs["phase"] = float(loss.detach())
                total = total + stage.w("phase") * loss
            if stage.w("overlap") > 0:
                loss = overlap_disagreement(frames.float(), self.model.head.window)
                logs["overlap"] = float(loss.detach())
                total = total + stage.w("overlap") * loss
            if stage.w("mel") > 0:
                loss = self.mel_loss(estimate, target)
                logs["mel"] = float(loss.detach())
                total = total + stage.w("mel") * loss
            if stage.w("asr") > 0:
                loss = self.asr_loss(estimate, target)
                logs["asr"] = float(loss.detach())
                total = total + stage.w("asr") * loss
            if stage.w("adv") > 0 or stage.w("fm") > 0:
                total = total + self._adversarial(stage, estimate, target, logs)
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        logs["grad_norm"] = float(nn.utils.clip_grad_norm_(
            [p for p in self.model.parameters() if p.requires_grad], self.config.train.grad_clip))
        self.opt.step()
        logs["total"] = float(total.detach())
        self.step += 1
        self.budget["audio_s"] += clean.shape[0] * clean.shape[1] / SAMPLE_RATE
        return logs

    def _decoder_targets(self, stage: StageConfig, hidden: torch.Tensor,
                         batch: dict[str, torch.Tensor], logs: dict[str, float]) -> torch.Tensor:
        """Teacher and source-filter parameter losses of the decoder features ``hidden``,
        shifted by the look-ahead: decoder step j describes frame j - lookahead."""
        ahead = self.config.model.decoder_lookahead
        steps = hidden.shape[1] - ahead
        hidden = hidden[:, ahead:]
        total = hidden.new_zeros(())
        if stage.w("teacher") > 0:
            pred = self.model.teacher_head(hidden).float()
            loss = distillation_loss(pred, batch["teacher"][:, :steps].to(self.device),
                                     batch["teacher_mask"][:, :steps].to(self.device))
            logs["teacher"] = float(loss.detach())
            total = total + stage.w("teacher") * loss
        if stage.uses_parameters:
            targets = {name: batch[name][:, :steps].to(self.device)
                       for name in ("f0", "voiced", "mcep", "ap")}
            mask = batch["target_mask"][:, :steps].to(self.device)
            losses = parameter_losses(self.model.head.outputs(hidden), targets, mask)
            for name, loss in losses.items():
                logs[name] = float(loss.detach())
                total = total + stage.w(name) * loss
        return total

    def _adversarial(self, stage: StageConfig, estimate: torch.Tensor, target: torch.Tensor,
                     logs: dict[str, float]) -> torch.Tensor:
        """Update the discriminator, then return the generator's adversarial + FM loss."""
        self.disc.requires_grad_(True)
        real_logits, _ = self.disc(target)
        fake_logits, _ = self.disc(estimate.detach())
        d_loss = discriminator_loss(real_logits, fake_logits)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        nn.utils.clip_grad_norm_(self.disc.parameters(), self.config.train.grad_clip)
        self.opt_d.step()
        logs["disc"] = float(d_loss.detach())
        self.disc.requires_grad_(False)
        _, real_maps = self.disc(target)
        fake_logits, fake_maps = self.disc(estimate)
        adv, fm = generator_loss(fake_logits), feature_matching_loss(real_maps, fake_maps)
        logs["adv"], logs["fm"] = float(adv.detach()), float(fm.detach())
        return stage.w("adv") * adv + stage.w("fm") * fm

    # ---- validation and loop -------------------------------------------------------------

    @torch.no_grad()
    def validate(self, clips: list[dict]) -> dict[str, float]:
        """Mean mel/STFT loss of clean clips through the full 16-bit codec; with a source-filter
        head also its parameter errors, with a decoder teacher head its teacher loss (on clips
        whose targets are cached)."""
        self.model.eval()
        figures: dict[str, list[float]] = {}
        delay, ahead = self.model.delay_samples, self.config.model.decoder_lookahead
        for clip in clips:
            x = torch.from_numpy(clip["audio"])[None].to(self.device)
            hidden = self.model.decoder_features(self.model.encode(x))
            y = self.model.head.synthesize(hidden)[:, delay:]
            ref = x[:, : x.shape[1] - delay]
            figures.setdefault("valid_mel", []).append(float(self.mel_loss(y, ref)))
            figures.setdefault("valid_stft", []).append(float(self.stft_loss(y, ref)))
            steps = hidden.shape[1] - ahead
            hidden = hidden[:, ahead:]
            if "targets" in clip:
                targets = {k: v[None, :steps].to(self.device) for k, v in clip["targets"].items()}
                outputs = self.model.head.outputs(hidden)
                errors = parameter_errors(outputs, targets, self.model.head.f0_hz(outputs["f0_logits"]),
                                          targets["target_mask"])
                for name, value in errors.items():
                    figures.setdefault(f"valid_{name}", []).append(value)
            if "teacher" in clip:
                teacher = clip["teacher"][None, :steps].to(self.device)
                loss = distillation_loss(self.model.teacher_head(hidden), teacher)
                figures.setdefault("valid_teacher", []).append(float(loss))
        return {name: float(np.mean(values)) for name, values in figures.items()}

    def valid_clips(self) -> list[dict]:
        """Up to ``data.valid_clips`` valid clips spread over every manifest, 6 s at most each,
        with their cached targets and teacher features where the model can use them."""
        from codec.neural.dataset import teacher_cache_path

        rows = read_manifests(self.config.data.manifest, "valid")
        rows = list({str(row["file"]): row for row in rows}.values())  # a manifest listed twice
        count = self.config.data.valid_clips
        rows = rows[:: max(1, len(rows) // count)][:count]
        clips = []
        for row in rows:
            audio = load_clip(row["file"])[: 6 * 16000]
            audio = np.pad(audio, (0, (-len(audio)) % HOP + 4 * HOP)).astype(np.float32)
            clip = {"audio": audio}
            frames = len(audio) // HOP
            try:
                if self.config.model.head == "source_filter":
                    clip["targets"] = crop_targets(Path(self.config.data.targets_cache),
                                                   row["file"], 0, frames, 1.0)
            except FileNotFoundError:
                pass
            path = teacher_cache_path(Path(self.config.data.teacher_cache), row["file"])
            if self.model.teacher_head is not None and path.exists():
                feats = np.load(path).astype(np.float32)[:frames]
                clip["teacher"] = torch.from_numpy(np.pad(feats, ((0, frames - len(feats)), (0, 0))))
            clips.append(clip)
        return clips

    def run(self, max_steps: int | None = None) -> dict[str, float]:
        """Train until the configured total (or ``max_steps`` more steps); return last losses."""
        cfg = self.config
        uses_teacher = any(s.w("distill") > 0 or s.w("teacher") > 0 for s in cfg.stages)
        uses_targets = any(s.uses_parameters for s in cfg.stages)
        if not cfg.data.skip_uncached:
            if uses_teacher:
                build_teacher_cache(cfg, self.device)
            if uses_targets:
                build_target_cache(cfg)
        data = CropDataset(cfg.data, "train", seed=cfg.train.seed + self.step,
                           use_teacher=uses_teacher, use_targets=uses_targets)
        loader = iter(torch.utils.data.DataLoader(
            data, batch_size=cfg.data.batch_size, num_workers=cfg.data.workers,
            worker_init_fn=CropDataset.worker_init if cfg.data.workers else None,
            pin_memory=self.device.type == "cuda"))
        valid = self.valid_clips()
        end = cfg.total_steps if max_steps is None else min(cfg.total_steps, self.step + max_steps)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
        logs: dict[str, float] = {}
        started = time.monotonic()
        with open(self.run_dir / "losses.jsonl", "a") as log_file:
            while self.step < end:
                cpu = time.process_time()
                logs = self.train_step(next(loader))
                self.budget["cpu_s"] += time.process_time() - cpu
                if self.step % cfg.train.log_every == 0 or self.step == end:
                    record = {"step": self.step, "stage": cfg.stage_at(self.step - 1).name,
                              "elapsed_s": round(time.monotonic() - started, 1), **logs}
                    if self.step % cfg.train.valid_every == 0 or self.step == end:
                        record.update(self.validate(valid))
                        if (cfg.stage_at(self.step - 1).decodes
                                and record["valid_mel"] < self.best):
                            self.best = record["valid_mel"]
                            self.save("best.pt")
                    log_file.write(json.dumps(record) + "\n")
                    log_file.flush()
                    log.info("%s", record)
                if self.step % cfg.train.checkpoint_every == 0 or self.step == end:
                    self.save("last.pt")
                if cfg.train.snapshot_every and self.step % cfg.train.snapshot_every == 0:
                    self.save(f"step-{self.step:05d}.pt", model_only=True)
        return logs


def recognizer_loss() -> RecognizerLoss:
    """:class:`RecognizerLoss` over Whisper-base's encoder (log-mel front end included)."""
    from codec.neural.teacher import WhisperTeacher

    teacher = WhisperTeacher.load()
    return RecognizerLoss(nn.Sequential(teacher.mel, teacher.encoder))


def train_from_config(path: str | Path, run_dir: str | None = None,
                      max_steps: int | None = None) -> dict[str, float]:
    """``focalcall codec train``: load the config, resume if possible, train."""
    config = RunConfig.load(path)
    trainer = Trainer(config, Path(run_dir) if run_dir else None)
    trainer.resume()
    return trainer.run(max_steps)
