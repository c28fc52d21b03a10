"""Losses of the source-filter head against the cached WORLD targets (:mod:`codec.neural.targets`).

- ``f0``: cross-entropy against a Gaussian-blurred class target (:data:`F0_BLUR_BINS` wide),
  full weight on voiced frames and :data:`UNVOICED_F0_WEIGHT` on unvoiced ones (whose target is
  the interpolated contour: the synthesiser still integrates a phase there);
- ``voicing``: binary cross-entropy;
- ``mcep``: mean squared error of the mel-cepstrum, i.e. the log-spectral distance on the warped
  axis (Parseval); ``c_0`` (the level) counts like any other coefficient;
- ``ap``: L1 of the aperiodic shares at the nodes, on voiced frames only (unvoiced frames are
  all noise whatever the nodes say).

Every loss takes a frame mask ``(B, T)`` (1 = a real frame of the clip).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from codec.neural.envelope import F0_BINS, hz_to_bin

F0_BLUR_BINS = 1.0
UNVOICED_F0_WEIGHT = 0.1
PARAMETER_LOSSES = ("f0", "voicing", "mcep", "ap")


def f0_class_targets(f0_hz: torch.Tensor) -> torch.Tensor:
    """``(B, T)`` Hz → ``(B, T, F0_BINS)`` soft class targets (each row sums to one)."""
    position = torch.as_tensor(hz_to_bin(f0_hz.detach().cpu().numpy()), dtype=torch.float32,
                               device=f0_hz.device)
    bins = torch.arange(F0_BINS, dtype=torch.float32, device=f0_hz.device)
    weights = torch.exp(-0.5 * ((bins - position.unsqueeze(-1)) / F0_BLUR_BINS) ** 2)
    return weights / weights.sum(-1, keepdim=True)


def _masked_mean(per_frame: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return (per_frame * weight).sum() / weight.sum().clamp(min=1.0)


def parameter_losses(outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor],
                     mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each of :data:`PARAMETER_LOSSES` for head ``outputs`` against ``targets``, over ``mask``."""
    voiced = targets["voiced"]
    log_probs = F.log_softmax(outputs["f0_logits"].float(), dim=-1)
    f0 = -(f0_class_targets(targets["f0"]) * log_probs).sum(-1)
    f0_weight = mask * (voiced + UNVOICED_F0_WEIGHT * (1.0 - voiced))
    voicing = F.binary_cross_entropy_with_logits(outputs["voicing_logit"].float(), voiced,
                                                 reduction="none")
    mcep = ((outputs["mcep"].float() - targets["mcep"]) ** 2).mean(-1)
    ap = (torch.sigmoid(outputs["ap_logits"].float()) - targets["ap"]).abs().mean(-1)
    return {"f0": _masked_mean(f0, f0_weight), "voicing": _masked_mean(voicing, mask),
            "mcep": _masked_mean(mcep, mask), "ap": _masked_mean(ap, mask * voiced)}


@torch.no_grad()
def parameter_errors(outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor],
                     f0_hz: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    """Interpretable validation figures: mel-cepstral distortion (dB), share of voiced frames
    whose decoded f0 is within 50 cents, voicing decision error rate."""
    voiced = targets["voiced"] * mask
    diff = outputs["mcep"][..., 1:].float() - targets["mcep"][..., 1:]
    mcd = (10.0 / np.log(10.0)) * torch.sqrt(2.0 * (diff ** 2).sum(-1))
    cents = 1200.0 * torch.abs(torch.log2(f0_hz / targets["f0"]))
    decided = (outputs["voicing_logit"] > 0).float()
    return {"mcd_db": float(_masked_mean(mcd, mask)),
            "f0_within_50c": float(_masked_mean((cents < 50).float(), voiced)),
            "voicing_error": float(_masked_mean((decided != targets["voiced"]).float(), mask))}
