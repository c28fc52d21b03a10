"""The source-filter head's readout and its parameter losses."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from codec.neural.envelope import F0_BINS, ORDER, f0_bin_hz
from codec.neural.parameter_losses import f0_class_targets, parameter_errors, parameter_losses
from codec.neural.sf_head import SourceFilterHead


def logits_for(bins: list[float], height: float = 20.0) -> torch.Tensor:
    """f0 logits peaked at (fractional) class positions ``bins``; all equal heights."""
    index = torch.arange(F0_BINS, dtype=torch.float32)
    return torch.stack([-height * (index - b) ** 2 / 4 for b in bins]).logsumexp(0)


def test_f0_is_read_at_the_peak_and_never_between_octaves():
    head = SourceFilterHead(8)
    centres = f0_bin_hz()
    assert float(head.f0_hz(logits_for([40]))) == pytest.approx(centres[40], rel=1e-3)
    halfway = math.sqrt(centres[40] * centres[41])
    assert float(head.f0_hz(logits_for([40.5], height=2.0))) == pytest.approx(halfway, rel=2e-3)
    # two equally likely octaves: the readout picks one of them, not the fifth between them
    octave = int(round(np.log(2) / np.log(centres[1] / centres[0])))
    f0 = float(head.f0_hz(logits_for([30, 30 + octave])))
    assert min(abs(f0 / centres[30] - 1), abs(f0 / centres[30 + octave] - 1)) < 0.01


def test_soft_class_targets_peak_at_the_target_and_sum_to_one():
    targets = f0_class_targets(torch.tensor([[100.0, 300.0]]))
    assert torch.allclose(targets.sum(-1), torch.ones(1, 2))
    assert f0_bin_hz()[int(targets[0, 0].argmax())] == pytest.approx(100.0, rel=0.02)


def example(frames: int = 6) -> tuple[dict, dict, torch.Tensor]:
    torch.manual_seed(0)
    targets = {"f0": torch.full((1, frames), 150.0), "voiced": torch.tensor([[1.0, 1, 1, 0, 0, 1]]),
               "mcep": torch.randn(1, frames, ORDER + 1), "ap": torch.rand(1, frames, 6) * 0.9 + 0.05}
    perfect = {"f0_logits": 50 * f0_class_targets(targets["f0"]).log().clamp(min=-30),
               "voicing_logit": 20 * (targets["voiced"] - 0.5), "mcep": targets["mcep"].clone(),
               "ap_logits": torch.logit(targets["ap"])}
    return perfect, targets, torch.ones(1, frames)


def test_perfect_parameters_cost_nothing_and_errors_show_up():
    perfect, targets, mask = example()
    losses = parameter_losses(perfect, targets, mask)
    assert losses["mcep"] < 1e-9 and losses["ap"] < 1e-5 and losses["voicing"] < 1e-3
    worse = {**perfect, "mcep": perfect["mcep"] + 0.1}
    assert parameter_losses(worse, targets, mask)["mcep"] == pytest.approx(0.01, rel=1e-4)
    errors = parameter_errors(perfect, targets, targets["f0"], mask)
    assert errors == {"mcd_db": 0.0, "f0_within_50c": 1.0, "voicing_error": 0.0}
    octave_off = parameter_errors(perfect, targets, 2 * targets["f0"], mask)
    assert octave_off["f0_within_50c"] == 0.0


def test_masked_frames_do_not_count():
    perfect, targets, mask = example()
    broken = {**perfect, "mcep": perfect["mcep"].clone()}
    broken["mcep"][0, -1] += 5.0
    mask[0, -1] = 0.0
    assert parameter_losses(broken, targets, mask)["mcep"] < 1e-9
