"""The source-filter parameters' coordinates: f0 classes, mel-cepstral envelope, aperiodicity bands.

Shared by the analysis that makes training targets (:mod:`codec.neural.targets`, numpy) and the
synthesiser that plays them (:mod:`codec.neural.synth`, torch/ONNX), so both read one definition.

- **f0**: :data:`F0_BINS` classes spaced evenly in log frequency from :data:`F0_MIN` to
  :data:`F0_MAX` Hz.
- **Envelope**: a mel-cepstrum ``c_0..c_M`` (:data:`ORDER` = M) on the all-pass warped frequency
  axis with :data:`ALPHA` (0.42 approximates the mel scale at 16 kHz). The envelope is minimum
  phase: ``log H(ω) = Σ_n c_n e^{-i n ω̃(ω)}``, so its log-magnitude is ``Σ c_n cos(n ω̃)`` and its
  phase ``-Σ c_n sin(n ω̃)``; ``c_0`` is the log gain (natural log of amplitude).
- **Aperiodicity**: the aperiodic share of the power at :data:`AP_NODES_HZ`, linearly
  interpolated between them (a tent basis).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from codec.neural.config import SAMPLE_RATE

F0_MIN, F0_MAX, F0_BINS = 60.0, 500.0, 128
ALPHA = 0.42
ORDER = 24                      # mel-cepstrum c_0..c_24
AP_NODES_HZ = (0.0, 1000.0, 2000.0, 4000.0, 6000.0, 8000.0)
FIT_POINTS = 256                # warped-frequency grid the cepstrum is fitted on


def f0_bin_hz() -> np.ndarray:
    """Centre frequency of every f0 class ``(F0_BINS,)``."""
    return F0_MIN * (F0_MAX / F0_MIN) ** (np.arange(F0_BINS) / (F0_BINS - 1))


def hz_to_bin(f0: np.ndarray) -> np.ndarray:
    """Fractional class index of ``f0`` (Hz, > 0), clipped to the grid."""
    position = np.log(np.maximum(f0, 1e-3) / F0_MIN) / math.log(F0_MAX / F0_MIN) * (F0_BINS - 1)
    return np.clip(position, 0.0, F0_BINS - 1)


def warp(omega: np.ndarray | torch.Tensor, alpha: float = ALPHA):
    """All-pass frequency warping ``ω → ω̃`` (radians, 0..π); ``-alpha`` undoes it."""
    lib = torch if isinstance(omega, torch.Tensor) else np
    return omega + 2.0 * lib.arctan(alpha * lib.sin(omega) / (1.0 - alpha * lib.cos(omega)))


def fit_matrix(points: int = FIT_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """``(ORDER+1, points)`` least-squares map from log-magnitudes to the mel-cepstrum, and the
    linear frequencies (radians) at which those log-magnitudes must be sampled.

    The points are evenly spaced on the warped axis, so the fit spends its coefficients where
    the ear resolves most.
    """
    warped = np.linspace(0.0, math.pi, points)
    basis = np.cos(np.outer(warped, np.arange(ORDER + 1)))          # (points, ORDER+1)
    return np.linalg.pinv(basis), warp(warped, -ALPHA)


def cepstrum_basis(omega: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``cos(n ω̃)`` and ``sin(n ω̃)`` at linear frequencies ``omega``: ``(len, ORDER+1)`` each."""
    n = np.arange(ORDER + 1)
    angles = np.outer(warp(np.asarray(omega, np.float64)), n)
    return np.cos(angles), np.sin(angles)


def ap_tents(freq_hz: np.ndarray | torch.Tensor):
    """Linear-interpolation weights of each aperiodicity node at ``freq_hz``: ``(..., nodes)``.

    Flat beyond the first and last node; the weights of any frequency sum to one.
    """
    x = freq_hz if isinstance(freq_hz, torch.Tensor) else torch.as_tensor(freq_hz, dtype=torch.float64)
    nodes = AP_NODES_HZ
    columns = []
    for i, centre in enumerate(nodes):
        weight = torch.ones_like(x)
        if i > 0:
            weight = torch.minimum(weight, (x - nodes[i - 1]) / (centre - nodes[i - 1]))
        if i + 1 < len(nodes):
            weight = torch.minimum(weight, (nodes[i + 1] - x) / (nodes[i + 1] - centre))
        columns.append(torch.clamp(weight, 0.0, 1.0))
    tents = torch.stack(columns, -1)
    return tents if isinstance(freq_hz, torch.Tensor) else tents.numpy()


def bin_frequencies(n_fft: int) -> np.ndarray:
    """Frequencies (Hz) of an ``n_fft``-point real DFT's bins."""
    return np.arange(n_fft // 2 + 1) * SAMPLE_RATE / n_fft
