"""Training losses: each is zero-ish on a perfect estimate and grows with the error it measures."""
from __future__ import annotations

import math

import pytest
import torch

from codec.neural.config import HOP, WINDOW
from codec.neural.losses import (MelLoss, MultiResolutionSTFTLoss, PhaseDerivativeLoss,
                                 RecognizerLoss, overlap_disagreement)

RATE = 16000


def harmonic_tone(phases: torch.Tensor, seconds: float = 1.0, f0: float = 150.0) -> torch.Tensor:
    """A (1, N) sum of harmonics of ``f0`` with the given starting phases."""
    t = torch.arange(int(RATE * seconds)) / RATE
    k = torch.arange(1, len(phases) + 1)[:, None]
    return (torch.cos(2 * math.pi * f0 * k * t + phases[:, None]) / k).sum(0, keepdim=True) * 0.1


def test_phase_loss_is_near_zero_for_the_target_and_blind_to_gain():
    target = harmonic_tone(torch.zeros(12))
    loss = PhaseDerivativeLoss()
    assert float(loss(target, target)) < 0.02
    assert float(loss(0.3 * target, target)) < 0.02  # magnitude errors are the other losses' job


def test_phase_loss_sees_incoherent_phase_that_magnitude_losses_barely_see():
    torch.manual_seed(0)
    target = harmonic_tone(torch.zeros(12))
    # Same harmonics, same magnitudes, but each 20 ms block restarts with random phases: the
    # roughness of a decoder whose frames do not join up.
    blocks = [harmonic_tone(2 * math.pi * torch.rand(12), 0.02) for _ in range(50)]
    rough = torch.cat(blocks, dim=1)
    phase, stft = PhaseDerivativeLoss(), MultiResolutionSTFTLoss()
    assert float(phase(rough, target)) > 0.2
    assert float(phase(rough, target)) > 10 * float(phase(target, target))
    assert float(stft(target, target)) < 1e-3
    assert float(MelLoss()(target, target)) < 1e-3


def test_phase_loss_weight_power_lets_the_weak_upper_harmonics_count():
    torch.manual_seed(0)
    target = harmonic_tone(torch.zeros(24))  # amplitudes fall as 1/k: the upper half is weak
    # Only the upper twelve harmonics restart with random phases every 20 ms.
    rough = torch.cat([harmonic_tone(torch.cat([torch.zeros(12), 2 * math.pi * torch.rand(12)]), 0.02)
                       for _ in range(50)], dim=1)
    resolutions = ((256, 64), (512, 128), (1024, 256))
    linear = PhaseDerivativeLoss(resolutions, weight_power=1.0)
    root = PhaseDerivativeLoss(resolutions, weight_power=0.5)
    # Near-silent bins between harmonics weigh more under the root too, so the floor rises a little.
    assert float(root(target, target)) < 0.05
    rise = {name: float(loss(rough, target) - loss(target, target))
            for name, loss in (("linear", linear), ("root", root))}
    assert rise["root"] > 1.5 * rise["linear"] > 0


@pytest.mark.parametrize("kwargs", [{"resolutions": ()}, {"resolutions": ((256, 512),)},
                                    {"weight_power": 0.0}, {"freq_lags": ()},
                                    {"freq_lags": (0, 4)}, {"freq_lags": (4, 4)}])
def test_phase_loss_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError, match="phase loss"):
        PhaseDerivativeLoss(**kwargs)


@pytest.mark.parametrize("f0", [110.0, 150.0, 220.0])
def test_phase_loss_at_wider_lags_sees_the_harmonics_relative_phases(f0: float):
    """Each harmonic keeps its own phase track, but they start at random phases relative to each
    other (another pulse shape): group delay between neighbouring bins barely sees it, phase
    differences a harmonic spacing apart do."""
    torch.manual_seed(0)
    target = harmonic_tone(torch.zeros(12), f0=f0)
    scrambled = harmonic_tone(2 * math.pi * torch.rand(12), f0=f0)
    neighbours, wide = PhaseDerivativeLoss(), PhaseDerivativeLoss(freq_lags=(1, 4, 8))
    assert float(wide(target, target)) < 0.01
    assert float(wide(scrambled, target)) > 0.25
    assert float(wide(scrambled, target)) > 4 * float(neighbours(scrambled, target))


def test_phase_loss_has_gradients():
    target = harmonic_tone(torch.zeros(6))
    estimate = (target + 0.01 * torch.randn_like(target)).requires_grad_(True)
    PhaseDerivativeLoss()(estimate, target).backward()
    assert estimate.grad is not None and torch.isfinite(estimate.grad).all()
    assert float(estimate.grad.abs().sum()) > 0


def test_short_stft_windows_see_how_the_harmonics_line_up():
    """Same harmonics and magnitudes, but scrambled relative phases: the pulses of the target
    smear out. Windows longer than a pitch period hardly notice; 4-8 ms windows do."""
    torch.manual_seed(0)
    target = harmonic_tone(torch.zeros(24), f0=120.0)  # 8.3 ms pitch period, peaky pulses
    scrambled = harmonic_tone(2 * math.pi * torch.rand(24), f0=120.0)
    long, short = MultiResolutionSTFTLoss(), MultiResolutionSTFTLoss(((64, 16), (128, 32)))
    assert float(short(target, target)) < 1e-3
    assert float(short(scrambled, target)) > 3 * float(long(scrambled, target))


@pytest.mark.parametrize("resolutions", [(), ((256, 512),), ((64, 16), (64, 32))])
def test_stft_loss_rejects_bad_resolutions(resolutions):
    with pytest.raises(ValueError, match="stft_resolutions"):
        MultiResolutionSTFTLoss(resolutions)


def frames_of(signal: torch.Tensor, per_step: int, window: torch.Tensor) -> torch.Tensor:
    """``(1, N)`` → ``(1, T, per_step, WINDOW)`` windowed frames cut ``HOP // per_step`` apart."""
    hop = HOP // per_step
    cuts = signal.unfold(1, WINDOW, hop) * window
    steps = cuts.shape[1] // per_step
    return cuts[:, : steps * per_step].reshape(1, steps, per_step, WINDOW)


@pytest.mark.parametrize("per_step", [1, 2])
def test_overlap_disagreement_is_zero_for_frames_of_one_signal(per_step: int):
    torch.manual_seed(0)
    window = torch.hann_window(WINDOW, periodic=True)
    tone = harmonic_tone(torch.rand(12) * 2 * math.pi)
    consistent = frames_of(tone, per_step, window)
    assert float(overlap_disagreement(consistent, window)) < 1e-6
    assert float(overlap_disagreement(5 * consistent, 3 * window)) < 1e-6


def test_overlap_disagreement_sees_frames_that_do_not_join_up():
    torch.manual_seed(0)
    window = torch.hann_window(WINDOW, periodic=True)
    tone = harmonic_tone(torch.zeros(12))
    # Each frame its own random harmonic phases (same magnitudes): unrelated neighbours.
    blocks = [frames_of(harmonic_tone(2 * math.pi * torch.rand(12), 0.05), 1, window)[:, :1]
              for _ in range(40)]
    unrelated = torch.cat(blocks, dim=1)
    assert 0.6 < float(overlap_disagreement(unrelated, window)) < 1.4
    # Every other frame negated: the overlap cancels outright.
    frames = frames_of(tone, 1, window)
    signs = torch.tensor([1.0, -1.0]).repeat(frames.shape[1])[: frames.shape[1]]
    flipped = frames * signs[None, :, None, None]
    assert float(overlap_disagreement(flipped, window)) == pytest.approx(2.0, abs=1e-3)


def test_recognizer_loss_is_zero_for_the_target_and_trains_only_the_estimate():
    encoder = torch.nn.Sequential(torch.nn.Unflatten(1, (1, -1)), torch.nn.Conv1d(1, 16, 320, 320),
                                  torch.nn.GELU(), torch.nn.Flatten(2))
    loss = RecognizerLoss(torch.nn.Sequential(encoder, Transpose()))
    target = torch.randn(2, 3200)
    assert float(loss(target.clone(), target)) < 1e-5
    estimate = (target + 0.5 * torch.randn_like(target)).requires_grad_(True)
    value = loss(estimate, target)
    value.backward()
    assert float(value) > 0.05 and estimate.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in encoder.parameters())


class Transpose(torch.nn.Module):
    """(B, D, T) → (B, T, D), as a speech encoder's features come."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2)
