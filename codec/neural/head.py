"""Vocos-style inverse-STFT head: features → magnitude and phase → windowed frames → audio.

Each decoder step synthesises ``HOP // synthesis_hop`` frames of ``WINDOW`` samples, placed
``synthesis_hop`` apart: at 320 (one frame per code) frame j covers output samples
``[HOP*j, HOP*j + WINDOW)`` at 50 % overlap; at 160 a second frame starts 160 samples later,
so every output sample is the sum of four frames (75 % overlap, a 10 ms synthesis grid).
A periodic Hann window at overlap ``WINDOW / synthesis_hop`` sums to ``WINDOW / (2 *
synthesis_hop)``; frames are scaled by its inverse, so overlap-add needs no normalisation.
The inverse DFT is a fixed matrix product (like the front end) to export as plain MatMuls.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from codec.neural.config import HOP, WINDOW
from codec.neural.frontend import dft_bases

MAX_LOG_MAG = math.log(100.0)  # clip as Vocos does: keeps early training from exploding


class ISTFTHead(nn.Module):
    """``(…, C)`` features → ``(…, HOP // synthesis_hop, WINDOW)`` windowed synthesis frames.

    Log-magnitude and phase are linear in the features; ``phase_hidden > 0`` adds a small MLP
    to the phase (phase wraps, so a linear map serves it worse than the magnitude). Its output
    layer starts at zero, so a trained linear head grows the MLP without changing its output.

    The frames after the first (``synthesis_hop < HOP``) are the first frame's spectrum moved
    by their offset (a linear phase) plus a linear correction that starts at zero: a trained
    one-frame head grows the finer grid while its output stays what it was.
    """

    def __init__(self, dim: int, phase_hidden: int = 0, synthesis_hop: int = HOP) -> None:
        super().__init__()
        self.dim = dim
        self.bins = WINDOW // 2 + 1
        self.phase_hidden = phase_hidden
        self.synthesis_hop = synthesis_hop
        self.frames_per_step = HOP // synthesis_hop
        self.out = nn.Linear(dim, 2 * self.bins)
        if phase_hidden:
            self.phase_mlp = nn.Sequential(nn.Linear(dim, phase_hidden), nn.GELU(),
                                           nn.Linear(phase_hidden, self.bins))
            nn.init.zeros_(self.phase_mlp[2].weight)
            nn.init.zeros_(self.phase_mlp[2].bias)
        if self.frames_per_step > 1:
            self.later = nn.Linear(dim, (self.frames_per_step - 1) * 2 * self.bins)
            nn.init.zeros_(self.later.weight)
            nn.init.zeros_(self.later.bias)
            # Content at output sample s sits synthesis_hop * i samples earlier in frame i, so
            # its bin-k phase there is advanced by 2π k synthesis_hop i / WINDOW.
            offsets = torch.arange(1, self.frames_per_step).unsqueeze(1) * synthesis_hop
            shift = 2 * math.pi * offsets * torch.arange(self.bins) / WINDOW
            self.register_buffer("phase_shift", shift, persistent=False)
        cos, sin = dft_bases()
        # Inverse real DFT: x[n] = (1/N) Σ_k w_k (Re_k cos − Im_k sin), w = 1 at DC/Nyquist else 2.
        weight = torch.full((self.bins, 1), 2.0)
        weight[0, 0] = weight[-1, 0] = 1.0
        self.register_buffer("idft_cos", cos.t() * weight / WINDOW, persistent=False)
        self.register_buffer("idft_sin", sin.t() * weight / WINDOW, persistent=False)
        window = torch.hann_window(WINDOW, periodic=True) * (2 * synthesis_hop / WINDOW)
        self.register_buffer("window", window, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(…, C)`` → ``(…, HOP // synthesis_hop, WINDOW)``."""
        # Under mixed precision the exp/cos/sin and the inverse DFT would run in bf16 (~3
        # digits); the waveform needs fp32, and this is a small share of the compute.
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = x.float()
            log_mag, phase = torch.split(self.out(x), [self.bins, self.bins], dim=-1)
            if self.phase_hidden:
                phase = phase + self.phase_mlp(x)
            log_mag, phase = log_mag.unsqueeze(-2), phase.unsqueeze(-2)
            if self.frames_per_step > 1:
                later = self.later(x).unflatten(-1, (self.frames_per_step - 1, 2 * self.bins))
                later_mag, later_phase = torch.split(later, [self.bins, self.bins], dim=-1)
                log_mag = torch.cat([log_mag, log_mag + later_mag], dim=-2)
                phase = torch.cat([phase, phase + self.phase_shift + later_phase], dim=-2)
            mag = torch.exp(torch.clamp(log_mag, max=MAX_LOG_MAG))
            frames = ((mag * torch.cos(phase)) @ self.idft_cos
                      - (mag * torch.sin(phase)) @ self.idft_sin)
            return frames * self.window

    @property
    def state_size(self) -> int:
        """Samples of the frames so far that reach past the current output chunk."""
        return WINDOW - self.synthesis_hop

    def synthesize(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, C)`` → ``(B, T*HOP)``: the frames overlap-added."""
        return overlap_add(self(x))

    def step(self, x: torch.Tensor, tail: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, C)`` features, ``tail (B, state_size)`` → the finished chunk ``(B, HOP)``, new tail."""
        return overlap_add_step(tail, self(x))

    def macs_per_frame(self) -> int:
        mlp = self.phase_hidden * (self.dim + self.bins)
        later = self.dim * (self.frames_per_step - 1) * 2 * self.bins
        return self.dim * 2 * self.bins + mlp + later + self.frames_per_step * 2 * self.bins * WINDOW


def overlap_add(frames: torch.Tensor) -> torch.Tensor:
    """``(B, T, K, WINDOW)`` → ``(B, T*HOP)``: frame ``(t, i)`` starts at sample
    ``HOP*t + i*HOP/K``; what reaches past the end is dropped."""
    batch, steps, per_step, _ = frames.shape
    hop = HOP // per_step
    flat = frames.reshape(batch, steps * per_step, WINDOW).transpose(1, 2)
    audio = nn.functional.fold(flat, output_size=(1, (steps * per_step - 1) * hop + WINDOW),
                               kernel_size=(1, WINDOW), stride=(1, hop))
    return audio.reshape(batch, -1)[:, :steps * HOP]


def overlap_add_step(tail: torch.Tensor, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One decoder step: ``tail (B, WINDOW - HOP/K)``, ``frames (B, K, WINDOW)`` →
    the finished chunk ``(B, HOP)`` and the new tail."""
    per_step = frames.shape[1]
    hop = HOP // per_step
    total = tail.shape[1] + HOP
    acc = nn.functional.pad(tail, (0, HOP))
    for i in range(per_step):
        acc = acc + nn.functional.pad(frames[:, i], (i * hop, total - WINDOW - i * hop))
    return acc[:, :HOP], acc[:, HOP:]
