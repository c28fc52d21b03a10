"""A light multi-resolution spectrogram discriminator (in the spirit of Vocos's MRD).

Each sub-discriminator sees the STFT of the waveform at one resolution and runs a small 2-D
conv stack; it returns per-patch logits and its feature maps (for the feature-matching loss).
Narrow channels keep it cheap on CPU.

Two inputs are on offer. ``magnitude`` is the log power spectrogram: it cannot tell a decoded
phase from the true one. ``complex`` is the real and imaginary part of the spectrum with its
magnitude compressed (``|X|**0.3`` at the original phase, so quiet bins still count): the convs
see how phase turns from frame to frame and bin to bin, which is where our decoder fell short
(bench/phase_swap.py).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrizations

RESOLUTIONS = ((256, 64), (512, 128), (1024, 256))
INPUTS = ("magnitude", "complex")
COMPRESSION = 0.3  # magnitude exponent of the complex input


class SpectrogramDiscriminator(nn.Module):
    """``(B, N)`` audio → logits ``(B, 1, F', T')`` and a list of feature maps."""

    def __init__(self, n_fft: int, hop: int, channels: int = 16,
                 spectrum: str = "magnitude") -> None:
        super().__init__()
        if spectrum not in INPUTS:
            raise ValueError(f"discriminator input must be one of {INPUTS}, not {spectrum!r}")
        self.n_fft, self.hop, self.spectrum = n_fft, hop, spectrum
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        norm = parametrizations.weight_norm
        self.convs = nn.ModuleList([
            norm(nn.Conv2d(1 if spectrum == "magnitude" else 2, channels, (7, 5), padding=(3, 2))),
            norm(nn.Conv2d(channels, channels, (5, 3), stride=(2, 1), padding=(2, 1))),
            norm(nn.Conv2d(channels, channels, (5, 3), stride=(2, 1), padding=(2, 1))),
            norm(nn.Conv2d(channels, channels, (5, 3), stride=(2, 1), padding=(2, 1))),
        ])
        self.out = norm(nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)))
        self.act = nn.LeakyReLU(0.1)

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = self.spectrogram(audio)
        maps = []
        for conv in self.convs:
            x = self.act(conv(x))
            maps.append(x)
        return self.out(x), maps

    def spectrogram(self, audio: torch.Tensor) -> torch.Tensor:
        """``(B, N)`` → ``(B, 1, F, T)`` log power or ``(B, 2, F, T)`` compressed real/imag."""
        spec = torch.stft(audio, self.n_fft, self.hop, window=self.window, return_complex=True)
        power = spec.real ** 2 + spec.imag ** 2 + 1e-6
        if self.spectrum == "magnitude":
            return torch.log(power)[:, None]
        scale = power ** ((COMPRESSION - 1.0) / 2)  # |X|**0.3 / |X|
        return torch.stack([spec.real * scale, spec.imag * scale], dim=1)


class MultiResolutionDiscriminator(nn.Module):
    """Three spectrogram discriminators at the resolutions of the STFT loss."""

    def __init__(self, channels: int = 16, spectrum: str = "magnitude") -> None:
        super().__init__()
        self.subs = nn.ModuleList(SpectrogramDiscriminator(n, h, channels, spectrum)
                                  for n, h in RESOLUTIONS)

    def forward(self, audio: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        """``(B, N)`` → (logits per sub-discriminator, feature maps per sub-discriminator)."""
        logits, maps = [], []
        for sub in self.subs:
            lg, mp = sub(audio)
            logits.append(lg)
            maps.append(mp)
        return logits, maps
