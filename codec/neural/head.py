"""Vocos-style inverse-STFT head: features → magnitude and phase → windowed frames → audio.

Synthesis frame f covers samples ``[HOP*(f-1), HOP*(f+1))`` (the encoder's analysis window).
A periodic Hann window at 50 % overlap sums to one, so overlap-add needs no normalisation.
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
    """``(…, C)`` features → ``(…, WINDOW)`` windowed time-domain synthesis frames.

    Log-magnitude and phase are linear in the features; ``phase_hidden > 0`` adds a small MLP
    to the phase (phase wraps, so a linear map serves it worse than the magnitude). Its output
    layer starts at zero, so a trained linear head grows the MLP without changing its output.
    """

    def __init__(self, dim: int, phase_hidden: int = 0) -> None:
        super().__init__()
        self.dim = dim
        self.bins = WINDOW // 2 + 1
        self.phase_hidden = phase_hidden
        self.out = nn.Linear(dim, 2 * self.bins)
        if phase_hidden:
            self.phase_mlp = nn.Sequential(nn.Linear(dim, phase_hidden), nn.GELU(),
                                           nn.Linear(phase_hidden, self.bins))
            nn.init.zeros_(self.phase_mlp[2].weight)
            nn.init.zeros_(self.phase_mlp[2].bias)
        cos, sin = dft_bases()
        # Inverse real DFT: x[n] = (1/N) Σ_k w_k (Re_k cos − Im_k sin), w = 1 at DC/Nyquist else 2.
        weight = torch.full((self.bins, 1), 2.0)
        weight[0, 0] = weight[-1, 0] = 1.0
        self.register_buffer("idft_cos", cos.t() * weight / WINDOW, persistent=False)
        self.register_buffer("idft_sin", sin.t() * weight / WINDOW, persistent=False)
        self.register_buffer("window", torch.hann_window(WINDOW, periodic=True), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(…, C)`` → ``(…, WINDOW)``."""
        # Under mixed precision the exp/cos/sin and the inverse DFT would run in bf16 (~3
        # digits); the waveform needs fp32, and this is a small share of the compute.
        with torch.autocast(device_type=x.device.type, enabled=False):
            log_mag, phase = torch.split(self.out(x.float()), [self.bins, self.bins], dim=-1)
            if self.phase_hidden:
                phase = phase + self.phase_mlp(x.float())
            mag = torch.exp(torch.clamp(log_mag, max=MAX_LOG_MAG))
            frames = ((mag * torch.cos(phase)) @ self.idft_cos
                      - (mag * torch.sin(phase)) @ self.idft_sin)
            return frames * self.window

    def macs_per_frame(self) -> int:
        mlp = self.phase_hidden * (self.dim + self.bins)
        return self.dim * 2 * self.bins + mlp + 2 * self.bins * WINDOW


def overlap_add(frames: torch.Tensor) -> torch.Tensor:
    """``(B, T, WINDOW)`` → ``(B, T*HOP)``: chunk j = second half of frame j-1 + first half of j."""
    previous = torch.cat([torch.zeros_like(frames[:, :1, HOP:]), frames[:, :-1, HOP:]], dim=1)
    return (previous + frames[:, :, :HOP]).reshape(frames.shape[0], -1)
