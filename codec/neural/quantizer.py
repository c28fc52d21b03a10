"""Binary spherical quantization (BSQ, Zhao et al. 2024): B bits per frame, one codebook.

Project to B dimensions, L2-normalise onto the unit sphere, take signs. The code is the
sign vector; its dequantized value is ``sign / sqrt(B)``, itself on the sphere, so the
quantization error is bounded without a learned codebook. For lower bit rates the decoder
gets only the first k bits (the rest are 0) and rescales by ``1 / sqrt(k)``; a frame with
no bits at all (all zeros) means "missing" and the decoder conceals it.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def bits_mask(bits: int, keep: torch.Tensor) -> torch.Tensor:
    """``keep (…)`` integer bit counts → float mask ``(…, bits)`` with the first ``keep`` ones."""
    return (torch.arange(bits, device=keep.device) < keep[..., None]).float()


class BinarySphericalQuantizer(nn.Module):
    """``(…, C)`` features ↔ ``(…, B)`` signs in {-1, +1} (0 = bit not sent)."""

    def __init__(self, dim: int, bits: int) -> None:
        super().__init__()
        self.dim, self.bits = dim, bits
        self.proj_in = nn.Linear(dim, bits)
        self.proj_out = nn.Linear(bits, dim)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """``(…, C)`` → unit vectors ``(…, B)``."""
        return F.normalize(self.proj_in(x), dim=-1, eps=1e-6)

    @staticmethod
    def signs(u: torch.Tensor) -> torch.Tensor:
        """Signs of ``u`` with 0 mapped to +1, so every code is a valid bit pattern."""
        return torch.where(u >= 0, torch.ones_like(u), -torch.ones_like(u))

    def quantize(self, u: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Training path: masked signs ``(…, B)`` with a straight-through gradient into ``u``."""
        s = self.signs(u)
        if mask is not None:
            s, u = s * mask, u * mask
        return u + (s - u).detach()

    def dequantize(self, signs: torch.Tensor) -> torch.Tensor:
        """``(…, B)`` signs in {-1, 0, +1} → decoder input ``(…, C)``.

        Scaling by the number of bits present keeps partial codes on the unit sphere.
        """
        present = (signs * signs).sum(dim=-1, keepdim=True)
        return self.proj_out(signs / torch.sqrt(torch.clamp(present, min=1.0)))

    def entropy_loss(self, u: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """Per-frame bit entropy minus batch bit-usage entropy (factorised, per bit, in nats).

        Low per-frame entropy makes the soft bits confident (close to their signs); high
        entropy of the batch-average bit makes every bit carry information.
        """
        p = torch.sigmoid(2.0 * math.sqrt(self.bits) * u / temperature).reshape(-1, self.bits)
        def h(q: torch.Tensor) -> torch.Tensor:
            q = q.clamp(1e-6, 1 - 1e-6)
            return -(q * torch.log(q) + (1 - q) * torch.log(1 - q))
        return h(p).mean() - h(p.mean(dim=0)).mean()

    def macs_per_frame(self) -> int:
        return 2 * self.dim * self.bits
