"""The source-filter coordinates: warping, mel-cepstrum fit, aperiodicity tents, f0 classes."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from codec.neural.envelope import (AP_NODES_HZ, F0_BINS, F0_MAX, F0_MIN, ORDER, ap_tents,
                                   cepstrum_basis, f0_bin_hz, fit_matrix, hz_to_bin, warp)


def test_warping_is_undone_by_the_opposite_alpha_and_keeps_the_ends():
    omega = np.linspace(0, math.pi, 50)
    assert np.allclose(warp(warp(omega), -0.42), omega, atol=1e-9)
    assert warp(np.array([0.0]))[0] == 0.0 and warp(np.array([math.pi]))[0] == pytest.approx(math.pi)
    # mel-like: the low band is stretched
    assert warp(np.array([0.1]))[0] > 0.2
    assert torch.allclose(warp(torch.tensor([0.5])), torch.tensor(warp(np.array([0.5]))).float())


def test_the_fit_recovers_a_mel_cepstrum_from_its_log_magnitude():
    rng = np.random.default_rng(0)
    c = rng.normal(0, 1, ORDER + 1) / (1 + np.arange(ORDER + 1))
    fit, omega = fit_matrix()
    cos, _ = cepstrum_basis(omega)
    assert np.allclose(fit @ (cos @ c), c, atol=1e-8)


def test_tents_interpolate_linearly_between_nodes_and_sum_to_one():
    freqs = np.linspace(-100, 9000, 400)
    tents = ap_tents(freqs)
    assert tents.shape == (400, len(AP_NODES_HZ))
    assert np.allclose(tents.sum(1), 1.0)
    values = np.array([0.1, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert ap_tents(np.array([1500.0])) @ values == pytest.approx(0.3)
    assert ap_tents(np.array(AP_NODES_HZ)) @ values == pytest.approx(values)
    assert torch.allclose(ap_tents(torch.tensor(freqs)), torch.tensor(tents))


def test_f0_classes_span_the_range_evenly_in_log_frequency():
    centres = f0_bin_hz()
    assert len(centres) == F0_BINS and centres[0] == F0_MIN and centres[-1] == pytest.approx(F0_MAX)
    assert np.allclose(np.diff(np.log(centres)), np.log(centres[1] / centres[0]))
    assert np.allclose(hz_to_bin(centres), np.arange(F0_BINS))
    assert hz_to_bin(np.array([10.0, 5000.0])).tolist() == [0.0, F0_BINS - 1]
