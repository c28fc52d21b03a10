"""The spectrogram discriminator: what each input kind can and cannot see."""
from __future__ import annotations

import math

import pytest
import torch

from codec.neural.discriminator import MultiResolutionDiscriminator, SpectrogramDiscriminator

RATE = 16000


def speechlike(seconds: float = 0.5) -> torch.Tensor:
    """A (2, N) pair of harmonic tones with a slow vibrato."""
    t = torch.arange(int(RATE * seconds)) / RATE
    f0 = torch.tensor([[120.0], [210.0]])
    phase = 2 * math.pi * f0 * t + 3.0 * torch.sin(2 * math.pi * 5 * t)
    return sum(torch.cos(k * phase) / k for k in range(1, 9)) * 0.1


def test_complex_input_sees_a_phase_flip_that_magnitude_input_cannot():
    audio = speechlike()
    magnitude = SpectrogramDiscriminator(512, 128, spectrum="magnitude")
    complex_ = SpectrogramDiscriminator(512, 128, spectrum="complex")
    assert magnitude.spectrogram(audio).shape == (2, 1, 257, audio.shape[1] // 128 + 1)
    assert complex_.spectrogram(audio).shape == (2, 2, 257, audio.shape[1] // 128 + 1)
    # -x has x's magnitude and every phase turned by pi.
    assert torch.allclose(magnitude.spectrogram(audio), magnitude.spectrogram(-audio))
    assert torch.allclose(complex_.spectrogram(audio), -complex_.spectrogram(-audio))
    assert not torch.allclose(complex_.spectrogram(audio), complex_.spectrogram(-audio))


def test_complex_input_is_compressed_magnitude_at_the_original_phase():
    audio = speechlike()
    sub = SpectrogramDiscriminator(256, 64, spectrum="complex")
    spec = torch.stft(audio, 256, 64, window=torch.hann_window(256), return_complex=True)
    x = sub.spectrogram(audio)
    loud = spec.abs() > 1e-2  # below that, the power floor of 1e-6 keeps the gradient finite
    assert torch.allclose(torch.hypot(x[:, 0], x[:, 1])[loud], spec.abs()[loud] ** 0.3, rtol=1e-2)
    assert torch.allclose(torch.atan2(x[:, 1], x[:, 0])[loud], spec.angle()[loud], atol=1e-4)


@pytest.mark.parametrize("spectrum", ["magnitude", "complex"])
def test_discriminator_gives_logits_maps_and_input_gradients(spectrum: str):
    disc = MultiResolutionDiscriminator(channels=4, spectrum=spectrum)
    audio = speechlike().requires_grad_(True)
    logits, maps = disc(audio)
    assert len(logits) == len(maps) == 3
    assert all(lg.shape[:2] == (2, 1) for lg in logits)
    sum(lg.mean() for lg in logits).backward()
    assert audio.grad is not None and torch.isfinite(audio.grad).all()
    assert float(audio.grad.abs().sum()) > 0


def test_unknown_input_kind_is_refused():
    with pytest.raises(ValueError, match="magnitude"):
        SpectrogramDiscriminator(256, 64, spectrum="phase")
