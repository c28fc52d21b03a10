"""Causal focal-modulation blocks (after FocalNets, Yang et al. 2022), with streaming steps.

A block replaces self-attention by *focal modulation*: a context branch is filtered by a
hierarchy of depthwise convolutions (each level sees further back), the levels are mixed
by learned per-frame gates, and the result multiplies (modulates) a query projection.
Every convolution is left-padded, so a block never sees the future; FocalNet's global
average-pooling level is dropped because it would look ahead.

Every stateful module offers ``forward`` over a whole sequence ``(B, T, C)`` and ``step`` for
one frame ``(B, C)``; the two agree exactly because the streaming state is the left padding
the whole-sequence path would have used. A depthwise convolution's state is one tensor
``(B, (k-1)*C)``; blocks and stacks pass lists of those (``state_sizes`` gives their widths),
so the model splits and concatenates its flat state once per step: at batch 1 the cost of a
step is mostly the number of graph nodes, not arithmetic.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class CausalDepthwiseConv(nn.Module):
    """Depthwise temporal convolution over the past ``kernel`` frames (current one included)."""

    def __init__(self, channels: int, kernel: int) -> None:
        super().__init__()
        self.channels, self.kernel = channels, kernel
        self.conv = nn.Conv1d(channels, channels, kernel, groups=channels)

    @property
    def state_size(self) -> int:
        return (self.kernel - 1) * self.channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, C)`` → ``(B, T, C)``."""
        y = F.pad(x.transpose(1, 2), (self.kernel - 1, 0))
        return self.conv(y).transpose(1, 2)

    def step(self, x: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (B, C)``, ``state (B, (k-1)*C)`` holding the last k-1 inputs → ``(B, C)``, state."""
        # Flat time-major layout: fewest graph nodes per step (node overhead dominates at batch 1).
        window = torch.cat([state, x], dim=1)                          # (B, k*C)
        weight = self.conv.weight[:, 0, :].transpose(0, 1).reshape(1, -1)
        y = (window * weight).reshape(-1, self.kernel, self.channels).sum(dim=1)
        return y + self.conv.bias, window[:, self.channels:]

    def macs_per_frame(self) -> int:
        return self.channels * self.kernel


class FocalModulation(nn.Module):
    """Query ⊙ h(Σ_l gate_l · context_l), context_l from l+1 stacked causal depthwise convs."""

    def __init__(self, dim: int, levels: int, kernel: int) -> None:
        super().__init__()
        self.dim, self.levels = dim, levels
        self.f = nn.Linear(dim, 2 * dim + levels)
        self.convs = nn.ModuleList(CausalDepthwiseConv(dim, kernel + 2 * level)
                                   for level in range(levels))
        self.h = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    @property
    def state_sizes(self) -> list[int]:
        return [conv.state_size for conv in self.convs]

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        q, ctx, gates = torch.split(self.f(x), [self.dim, self.dim, self.levels], dim=-1)
        return q, ctx, gates

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, C)`` → ``(B, T, C)``."""
        q, ctx, gates = self._split(x)
        agg = torch.zeros_like(ctx)
        for level, conv in enumerate(self.convs):
            ctx = F.gelu(conv(ctx))
            agg = agg + ctx * gates[..., level:level + 1]
        return self.proj(q * self.h(agg))

    def step(self, x: torch.Tensor, states: Sequence[torch.Tensor]
             ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(B, C)`` → ``(B, C)``; one state ``(B, size)`` per level, as ``state_sizes``."""
        q, ctx, gates = self._split(x)
        agg = torch.zeros_like(ctx)
        new_states = []
        for level, (conv, state) in enumerate(zip(self.convs, states)):
            ctx, s = conv.step(ctx, state)
            new_states.append(s)
            ctx = F.gelu(ctx)
            agg = agg + ctx * gates[:, level:level + 1]
        return self.proj(q * self.h(agg)), new_states

    def macs_per_frame(self) -> int:
        linear = self.dim * (2 * self.dim + self.levels) + 2 * self.dim * self.dim
        return linear + sum(conv.macs_per_frame() for conv in self.convs) + self.dim * self.levels


class FocalBlock(nn.Module):
    """Pre-norm residual block: focal modulation, then a GELU MLP, each with a layer scale."""

    def __init__(self, dim: int, hidden: int, levels: int, kernel: int, layer_scale: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.modulation = FocalModulation(dim, levels, kernel)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.gamma1 = nn.Parameter(torch.full((dim,), layer_scale))
        self.gamma2 = nn.Parameter(torch.full((dim,), layer_scale))
        self.dim, self.hidden = dim, hidden

    @property
    def state_sizes(self) -> list[int]:
        return self.modulation.state_sizes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, C)`` → ``(B, T, C)``."""
        x = x + self.gamma1 * self.modulation(self.norm1(x))
        return x + self.gamma2 * self.mlp(self.norm2(x))

    def step(self, x: torch.Tensor, states: Sequence[torch.Tensor]
             ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(B, C)`` → ``(B, C)``; states as ``state_sizes``."""
        y, states = self.modulation.step(self.norm1(x), states)
        x = x + self.gamma1 * y
        return x + self.gamma2 * self.mlp(self.norm2(x)), states

    def macs_per_frame(self) -> int:
        return self.modulation.macs_per_frame() + 2 * self.dim * self.hidden


class FocalStack(nn.Module):
    """A sequence of focal blocks followed by a LayerNorm; its state is the blocks' concatenated."""

    def __init__(self, dim: int, hidden: int, depth: int, levels: int, kernel: int,
                 layer_scale: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(FocalBlock(dim, hidden, levels, kernel, layer_scale)
                                    for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    @property
    def state_sizes(self) -> list[int]:
        return [size for block in self.blocks for size in block.state_sizes]

    @property
    def state_size(self) -> int:
        return sum(self.state_sizes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, C)`` → ``(B, T, C)``."""
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def step(self, x: torch.Tensor, states: Sequence[torch.Tensor]
             ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(B, C)`` → ``(B, C)``; states as ``state_sizes``."""
        new_states, offset = [], 0
        for block in self.blocks:
            n = len(block.state_sizes)
            x, s = block.step(x, states[offset:offset + n])
            offset += n
            new_states.extend(s)
        return self.norm(x), new_states

    def macs_per_frame(self) -> int:
        return sum(block.macs_per_frame() for block in self.blocks)
