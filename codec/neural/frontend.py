"""Causal log-mel front end: 320 new samples plus the previous 320 → one 80-bin log-mel frame.

The DFT is a fixed matrix product rather than ``torch.stft`` so that the streaming step
exports to plain ONNX MatMuls that onnxruntime-web runs everywhere.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from codec.neural.config import HOP, SAMPLE_RATE, WINDOW


def _hz_to_mel(hz: float) -> float:
    return 2595.0 * math.log10(1.0 + hz / 700.0)


def mel_filterbank(n_mels: int, n_fft: int = WINDOW, sample_rate: int = SAMPLE_RATE,
                   fmin: float = 0.0, fmax: float | None = None) -> torch.Tensor:
    """Triangular HTK-style mel filters, shape ``(n_fft // 2 + 1, n_mels)``, area-normalised."""
    fmax = fmax if fmax is not None else sample_rate / 2
    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    edges_mel = torch.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2, dtype=torch.float64)
    edges = 700.0 * (10 ** (edges_mel / 2595.0) - 1.0)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (freqs[:, None] - lower) / (centre - lower)
    falling = (upper - freqs[:, None]) / (upper - centre)
    fb = torch.clamp(torch.minimum(rising, falling), min=0.0)
    fb = fb * (2.0 / (upper - lower))  # equal area, so wide high bands do not dominate
    return fb.float()


def dft_bases(n_fft: int = WINDOW) -> tuple[torch.Tensor, torch.Tensor]:
    """Real-DFT matrices ``(n_fft, n_fft // 2 + 1)``: ``x @ cos`` and ``x @ sin`` give Re, -Im."""
    n = torch.arange(n_fft, dtype=torch.float64)[:, None]
    k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[None, :]
    angle = 2 * math.pi * n * k / n_fft
    return torch.cos(angle).float(), torch.sin(angle).float()


def frame_audio(audio: torch.Tensor) -> torch.Tensor:
    """``(B, T*HOP)`` → ``(B, T, WINDOW)``: frame t holds samples ``[HOP*(t-1), HOP*(t+1))``.

    The first frame's missing past is zeros, exactly as the streaming state starts.
    """
    batch, n = audio.shape
    if n % HOP:
        raise ValueError(f"audio length {n} is not a multiple of {HOP} samples")
    chunks = audio.reshape(batch, n // HOP, HOP)
    previous = torch.cat([torch.zeros_like(chunks[:, :1]), chunks[:, :-1]], dim=1)
    return torch.cat([previous, chunks], dim=2)


class LogMelFrontEnd(nn.Module):
    """Audio → log-mel frames, causal: frame t ends at the last sample of frame t."""

    def __init__(self, n_mels: int) -> None:
        super().__init__()
        self.n_mels = n_mels
        window = torch.hann_window(WINDOW, periodic=True)
        cos, sin = dft_bases()
        self.register_buffer("window", window, persistent=False)
        self.register_buffer("dft_cos", cos, persistent=False)
        self.register_buffer("dft_sin", sin, persistent=False)
        self.register_buffer("mel_fb", mel_filterbank(n_mels), persistent=False)

    def spectrum(self, frames: torch.Tensor) -> torch.Tensor:
        """``(..., WINDOW)`` samples → ``(..., n_mels)`` log-mel magnitudes."""
        x = frames * self.window
        re, im = x @ self.dft_cos, x @ self.dft_sin
        mag = torch.sqrt(re * re + im * im + 1e-9)
        return torch.log(mag @ self.mel_fb + 1e-5)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """``(B, T*HOP)`` → ``(B, T, n_mels)``."""
        return self.spectrum(frame_audio(audio))

    state_size = HOP

    def step(self, pcm: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One frame: ``pcm (B, HOP)``, ``state (B, HOP)`` (previous frame) → ``(B, n_mels)``, state."""
        return self.spectrum(torch.cat([state, pcm], dim=1)), pcm

    def macs_per_frame(self) -> int:
        bins = WINDOW // 2 + 1
        return 2 * WINDOW * bins + bins * self.n_mels
