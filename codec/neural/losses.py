"""Reconstruction, distillation and adversarial losses for codec training."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from codec.neural.config import HOP
from codec.neural.frontend import mel_filterbank

STFT_RESOLUTIONS = ((256, 64), (512, 128), (1024, 256))  # [n_fft, hop] of the default loss


def _magnitude(audio: torch.Tensor, n_fft: int, hop: int, window: torch.Tensor) -> torch.Tensor:
    spec = torch.stft(audio, n_fft, hop, window=window, return_complex=True)
    return torch.sqrt(spec.real ** 2 + spec.imag ** 2 + 1e-7)


class MultiResolutionSTFTLoss(nn.Module):
    """Spectral convergence + log-magnitude L1, averaged over STFT ``resolutions``.

    Windows shorter than a pitch period (64 or 128 samples: 4 or 8 ms) see each glottal pulse,
    so their magnitudes also constrain how the harmonics' phases line up with each other.
    """

    def __init__(self, resolutions: tuple[tuple[int, int], ...] = STFT_RESOLUTIONS) -> None:
        super().__init__()
        check_resolutions("train.stft_resolutions", resolutions)
        self.resolutions = tuple((int(n), int(h)) for n, h in resolutions)
        for n_fft, _ in self.resolutions:
            self.register_buffer(f"win{n_fft}", torch.hann_window(n_fft), persistent=False)

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``(B, N)`` audio pair → scalar."""
        total = estimate.new_zeros(())
        for n_fft, hop in self.resolutions:
            window = getattr(self, f"win{n_fft}")
            e, t = _magnitude(estimate, n_fft, hop, window), _magnitude(target, n_fft, hop, window)
            sc = torch.linalg.norm(t - e) / (torch.linalg.norm(t) + 1e-7)
            total = total + sc + F.l1_loss(torch.log(e), torch.log(t))
        return total / len(self.resolutions)


class MelLoss(nn.Module):
    """L1 between log-mel spectrograms (n_fft 1024, hop 256, 80 bands)."""

    def __init__(self, n_fft: int = 1024, hop: int = 256, n_mels: int = 80) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.register_buffer("fb", mel_filterbank(n_mels, n_fft), persistent=False)

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``(B, N)`` audio pair → scalar."""
        e = _magnitude(estimate, self.n_fft, self.hop, self.window).transpose(1, 2) @ self.fb
        t = _magnitude(target, self.n_fft, self.hop, self.window).transpose(1, 2) @ self.fb
        return F.l1_loss(torch.log(e + 1e-5), torch.log(t + 1e-5))


def check_resolutions(name: str, resolutions: Sequence[Sequence[int]]) -> None:
    """Refuse STFT resolutions other than distinct ``[n_fft, hop]`` pairs with 0 < hop <= n_fft."""
    if (not resolutions or any(len(r) != 2 or not 0 < r[1] <= r[0] for r in resolutions)
            or len({r[0] for r in resolutions}) != len(resolutions)):
        raise ValueError(f"{name} must be [n_fft, hop] pairs with 0 < hop <= n_fft, "
                         "one per n_fft")


def check_phase_settings(resolutions, weight_power: float, freq_lags: Sequence[int] = (1,)) -> None:
    """Refuse phase-loss settings (``train.phase_resolutions``/``phase_weight_power``/
    ``phase_freq_lags``) it cannot use."""
    check_resolutions("phase loss: train.phase_resolutions", resolutions)
    if weight_power <= 0:
        raise ValueError("phase loss: train.phase_weight_power must be positive")
    if not freq_lags or any(lag < 1 for lag in freq_lags) or len(set(freq_lags)) != len(freq_lags):
        raise ValueError("phase loss: train.phase_freq_lags must be distinct positive bin counts")


class PhaseDerivativeLoss(nn.Module):
    """Instantaneous-frequency and group-delay match, weighted by the target's magnitude.

    The magnitude losses constrain phase only through overlap; a decoder trained on them alone
    predicts phases that do not join up from frame to frame, which listeners hear as roughness.
    Comparing phase *differences* (along time: instantaneous frequency; along frequency: group
    delay) asks for coherent harmonics without asking for the absolute phase a 16-bit code cannot
    carry. Each difference is a unit phasor; the loss is the weighted mean of
    ``1 - cos(estimate - target)``, which needs no phase unwrapping. The weight is the target's
    magnitude raised to ``weight_power`` (1: loud low harmonics dominate; 0.5 spreads the weight
    towards the weaker upper bands), averaged over the STFT ``resolutions``. ``freq_lags``
    compares phase differences between bins further apart too (lag 1: group delay; lags of a
    few bins span neighbouring harmonics, so they ask for the harmonics' relative phases,
    the shape of each glottal pulse); all terms count equally.
    """

    def __init__(self, resolutions: tuple[tuple[int, int], ...] = ((512, 128),),
                 weight_power: float = 1.0, freq_lags: tuple[int, ...] = (1,)) -> None:
        super().__init__()
        check_phase_settings(resolutions, weight_power, freq_lags)
        self.resolutions = tuple((int(n), int(h)) for n, h in resolutions)
        self.weight_power = weight_power
        # (dim, lag): dim 1 is frequency, dim 2 time (instantaneous frequency, always lag 1).
        self.pairs = tuple((1, int(lag)) for lag in freq_lags) + ((2, 1),)
        for n_fft, _ in self.resolutions:
            self.register_buffer(f"win{n_fft}", torch.hann_window(n_fft), persistent=False)

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``(B, N)`` audio pair → scalar in [0, 2]."""
        total = estimate.new_zeros(())
        for n_fft, hop in self.resolutions:
            total = total + self._one(estimate, target, n_fft, hop)
        return total / len(self.resolutions)

    def _one(self, estimate: torch.Tensor, target: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
        window = getattr(self, f"win{n_fft}")
        e = torch.stft(estimate, n_fft, hop, window=window, return_complex=True)
        t = torch.stft(target, n_fft, hop, window=window, return_complex=True)
        weight = t.abs() ** self.weight_power
        total = estimate.new_zeros(())
        for dim, lag in self.pairs:
            n = e.shape[dim] - lag
            de = e.narrow(dim, lag, n) * e.narrow(dim, 0, n).conj()
            dt = t.narrow(dim, lag, n) * t.narrow(dim, 0, n).conj()
            agree = (de * dt.conj()).real / (de.abs() * dt.abs() + 1e-7)
            w = torch.sqrt(weight.narrow(dim, lag, n) * weight.narrow(dim, 0, n))
            total = total + ((1.0 - agree) * w).sum() / (w.sum() + 1e-7)
        return total / len(self.pairs)


def overlap_disagreement(frames: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """How much consecutive synthesis frames disagree where they overlap (frame consistency).

    ``frames (B, T, K, W)`` are the head's frames, each an inverse DFT ``r`` times ``window``,
    ``HOP // K`` samples apart at ``K`` per step (as :func:`~codec.neural.head.overlap_add`
    places them). Frames that came from one signal agree on their overlap, ``r_i[h + n] =
    r_{i+1}[n]``, and overlap-add gives that signal back; frames that disagree partly cancel
    (trained down, this lowered DNSMOS: codec/neural/RUNS.md, session 8). Scored without
    dividing by the window: ``w[n] w[h + n] (r_i[h + n] - r_{i+1}[n])``, summed squared per
    clip over the energy of both windowed halves (0: consistent; about 1: unrelated frames),
    then averaged over the batch.
    """
    batch, steps, per_step, size = frames.shape
    hop = HOP // per_step
    flat = frames.reshape(batch, steps * per_step, size)
    early, late = flat[:, :-1, hop:], flat[:, 1:, : size - hop]
    start, end = window[: size - hop], window[hop:]  # each frame's window over the other's part
    diff = (start * early - end * late).pow(2).sum(dim=(1, 2))
    energy = ((start * early).pow(2) + (end * late).pow(2)).sum(dim=(1, 2))
    return (diff / (energy + 1e-7)).mean()


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor,
                      mask: torch.Tensor | None = None) -> torch.Tensor:
    """Frame-wise match of ``(B, T, D)`` student projections to teacher features.

    Teacher features are layer-normalised per frame (Whisper's have a few huge channels), then
    compared by MSE plus cosine distance; ``mask (B, T)`` drops padded frames.
    """
    target = F.layer_norm(teacher, teacher.shape[-1:])
    mse = ((student - target) ** 2).mean(dim=-1)
    cos = 1.0 - F.cosine_similarity(student, target, dim=-1)
    per_frame = mse + cos
    if mask is None:
        return per_frame.mean()
    return (per_frame * mask).sum() / mask.sum().clamp(min=1.0)


def discriminator_loss(real: list[torch.Tensor], fake: list[torch.Tensor]) -> torch.Tensor:
    """Hinge loss of the discriminator over its sub-discriminators."""
    return sum(F.relu(1 - r).mean() + F.relu(1 + f).mean() for r, f in zip(real, fake)) / len(real)


def generator_loss(fake: list[torch.Tensor]) -> torch.Tensor:
    """Hinge loss of the generator."""
    return sum(F.relu(1 - f).mean() for f in fake) / len(fake)


def feature_matching_loss(real_maps: list[list[torch.Tensor]],
                          fake_maps: list[list[torch.Tensor]]) -> torch.Tensor:
    """Mean relative L1 between discriminator feature maps of real and generated audio."""
    losses = [F.l1_loss(f, r.detach()) / (r.detach().abs().mean() + 1e-5)
              for rs, fs in zip(real_maps, fake_maps) for r, f in zip(rs, fs)]
    return sum(losses) / len(losses)


class RecognizerLoss(nn.Module):
    """What a recogniser hears: a frozen speech encoder's features of the decoded audio against
    its features of the clean audio (both layer-normalised; MSE plus cosine distance, as
    :func:`distillation_loss`). Gradients reach the codec through the decoded audio only.

    ``encoder`` maps audio ``(B, N)`` to features ``(B, T, D)`` with gradients (for Whisper-base:
    ``WhisperTeacher.encoder`` after its ``mel``); it is frozen here.
    """

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder.eval().requires_grad_(False)

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            reference = self.encoder(target)
        heard = self.encoder(estimate)
        frames = min(heard.shape[1], reference.shape[1])
        heard = F.layer_norm(heard[:, :frames], heard.shape[-1:])
        return distillation_loss(heard, reference[:, :frames])
