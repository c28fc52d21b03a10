"""The source-filter synthesiser: calibration, phase continuity, streaming = whole sequence."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from codec.neural.config import HOP, SAMPLE_RATE
from codec.neural.envelope import AP_NODES_HZ, ORDER
from codec.neural.synth import FrameParameters, SourceFilterSynth

NODES = len(AP_NODES_HZ)


def flat(frames: int, f0: float, voicing: float, sp: float, ap: float = 0.0) -> FrameParameters:
    """Frames with a flat power envelope ``sp`` (``c_0 = ln sqrt(sp)``) and constant f0."""
    mcep = torch.zeros(1, frames, ORDER + 1)
    mcep[..., 0] = 0.5 * math.log(sp)
    return FrameParameters(torch.full((1, frames), f0), torch.full((1, frames), voicing), mcep,
                           torch.full((1, frames, NODES), ap))


def amplitude_at(x: np.ndarray, freq: float) -> float:
    """Amplitude of the sinusoid at ``freq`` in ``x`` (a whole number of its periods long)."""
    n = np.arange(len(x))
    return 2 * abs(np.mean(x * np.exp(-2j * np.pi * freq * n / SAMPLE_RATE)))


@torch.no_grad()
def test_harmonics_follow_cheaptricks_calibration():
    f0, sp = 200.0, 1e-3
    out = SourceFilterSynth()(flat(40, f0, 1.0, sp))[0, 10 * HOP:].numpy()
    expected = 2 * math.sqrt(sp * f0 / SAMPLE_RATE)
    for k in (1, 5, 20):
        assert amplitude_at(out, k * f0) == pytest.approx(expected, rel=0.02)
    assert amplitude_at(out, 8000 - f0 / 2) < 0.01 * expected      # faded before Nyquist
    assert amplitude_at(out, 1.5 * f0) < 0.01 * expected            # nothing between harmonics


@torch.no_grad()
def test_noise_has_the_envelopes_power_and_is_the_same_when_replayed():
    synth = SourceFilterSynth()
    sp = 1e-3
    out = synth(flat(300, 150.0, 0.0, sp))[0, 2 * HOP:].numpy()
    assert np.var(out) == pytest.approx(sp, rel=0.1)
    again = synth(flat(300, 150.0, 0.0, sp))[0, 2 * HOP:].numpy()
    assert np.array_equal(out, again)
    # power stays level across frame joins (square-root Hann windows add to constant power)
    power = (out[: 290 * HOP].reshape(-1, HOP // 4) ** 2).mean(1).reshape(-1, 4).mean(0)
    assert power.max() / power.min() < 1.15


@torch.no_grad()
def test_a_steady_tone_is_one_continuous_sinusoid_across_chunks():
    out = SourceFilterSynth(harmonics=1)(flat(30, 250.0, 1.0, 1e-3))[0, 2 * HOP:].numpy()
    n = np.arange(len(out))
    basis = np.stack([np.cos(2 * np.pi * 250 * n / SAMPLE_RATE), np.sin(2 * np.pi * 250 * n / SAMPLE_RATE)])
    fitted = np.linalg.lstsq(basis.T, out, rcond=None)[0] @ basis
    assert np.abs(out - fitted).max() < 1e-3 * np.abs(out).max()   # -60 dB: no click anywhere


@torch.no_grad()
def test_frequency_glides_without_jumps_when_f0_changes():
    p = flat(20, 100.0, 1.0, 1e-3)
    p.f0[0, 10:] = 300.0
    out = SourceFilterSynth(harmonics=1)(p)[0, HOP:].numpy()
    # zero crossings per chunk go from 100 Hz to 300 Hz through one gliding chunk
    crossings = [int(np.sum(np.diff(np.signbit(out[i:i + HOP])) != 0)) for i in range(0, 18 * HOP, HOP)]
    assert crossings[5] in (3, 4, 5) and crossings[15] in (11, 12, 13)
    assert all(b >= a - 1 for a, b in zip(crossings, crossings[1:]))
    # and the waveform never jumps: its largest step is that of a 300 Hz sinusoid
    amplitude = np.abs(out).max()
    assert np.abs(np.diff(out)).max() < 1.05 * amplitude * 2 * np.pi * 300 / SAMPLE_RATE


@torch.no_grad()
def test_streaming_equals_the_whole_sequence():
    torch.manual_seed(0)
    frames = 25
    p = FrameParameters(f0=80 + 300 * torch.rand(2, frames), voicing=torch.rand(2, frames),
                        mcep=torch.randn(2, frames, ORDER + 1) * 0.3 - torch.tensor([4.0] + [0.0] * ORDER),
                        ap=torch.rand(2, frames, NODES))
    synth = SourceFilterSynth()
    whole = synth(p)
    state = torch.zeros(2, synth.state_size)
    chunks = []
    for t in range(frames):
        step = FrameParameters(p.f0[:, t:t + 1], p.voicing[:, t:t + 1], p.mcep[:, t:t + 1], p.ap[:, t:t + 1])
        chunk, state = synth.step(step, state)
        chunks.append(chunk)
    assert torch.allclose(torch.cat(chunks, 1), whole, atol=1e-3 * whole.abs().max())
