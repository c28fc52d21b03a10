"""Source-filter head: decoder features → f0 classes, voicing, envelope, aperiodicity → waveform.

One linear layer predicts, per frame, :data:`F0_BINS` f0 logits, a voicing logit, the
mel-cepstral envelope ``c_0..c_M`` and the aperiodicity logits at the nodes
(:mod:`codec.neural.envelope`); the fixed synthesiser (:mod:`codec.neural.synth`) turns them
into audio. f0 is read from the classes as the probability-weighted mean of log f0 within
:data:`F0_WINDOW` bins of the most likely one, so octave confusions never average to a
frequency in between.
"""
from __future__ import annotations

import torch
from torch import nn

from codec.neural.envelope import AP_NODES_HZ, F0_BINS, ORDER, f0_bin_hz
from codec.neural.synth import FrameParameters, SourceFilterSynth

F0_WINDOW = 3                # bins either side of the argmax that f0 is averaged over
MCEP_INIT = (-4.5, 1.0)      # initial c_0 (a quiet -50 dB envelope) and c_1 (a falling tilt)


class SourceFilterHead(nn.Module):
    """``(…, C)`` features → raw per-frame outputs, parameters, and audio through the synthesiser."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.nodes = len(AP_NODES_HZ)
        self.sizes = [F0_BINS, 1, ORDER + 1, self.nodes]
        self.out = nn.Linear(dim, sum(self.sizes))
        with torch.no_grad():
            bias = self.out.bias
            bias.zero_()
            bias[F0_BINS + 1] = MCEP_INIT[0]
            bias[F0_BINS + 2] = MCEP_INIT[1]
        self.synth = SourceFilterSynth()
        self.register_buffer("log_f0_bins", torch.tensor(f0_bin_hz(), dtype=torch.float32).log(),
                             persistent=False)
        self.register_buffer("bin_index", torch.arange(F0_BINS, dtype=torch.float32),
                             persistent=False)

    def outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``(B, T, C)`` → ``f0_logits (B, T, F0_BINS)``, ``voicing_logit (B, T)``,
        ``mcep (B, T, ORDER+1)``, ``ap_logits (B, T, nodes)``."""
        f0_logits, voicing, mcep, ap = torch.split(self.out(x), self.sizes, dim=-1)
        return {"f0_logits": f0_logits, "voicing_logit": voicing.squeeze(-1), "mcep": mcep,
                "ap_logits": ap}

    def f0_hz(self, f0_logits: torch.Tensor) -> torch.Tensor:
        """``(…, F0_BINS)`` logits → ``(…)`` f0 in Hz (local mean of log f0 around the argmax)."""
        probs = torch.softmax(f0_logits, dim=-1)
        best = torch.argmax(f0_logits, dim=-1, keepdim=True).float()
        near = (torch.abs(self.bin_index - best) <= F0_WINDOW).float() * probs
        log_f0 = (near * self.log_f0_bins).sum(-1) / near.sum(-1).clamp(min=1e-8)
        return torch.exp(log_f0)

    def parameters_of(self, outputs: dict[str, torch.Tensor]) -> FrameParameters:
        """The synthesiser's parameters from :meth:`outputs` (f0 carries no gradient)."""
        return FrameParameters(f0=self.f0_hz(outputs["f0_logits"].detach()),
                               voicing=torch.sigmoid(outputs["voicing_logit"]),
                               mcep=outputs["mcep"], ap=torch.sigmoid(outputs["ap_logits"]))

    def synthesize(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, C)`` → ``(B, T*HOP)`` audio, chunk ``j`` ending at frame ``j``'s centre."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self.synth(self.parameters_of(self.outputs(x.float())))

    @property
    def state_size(self) -> int:
        return self.synth.state_size

    def step(self, x: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, C)`` features of one frame → the chunk ``(B, HOP)`` ending at its centre, state."""
        return self.synth.step(self.parameters_of(self.outputs(x.unsqueeze(1))), state)

    def macs_per_frame(self) -> int:
        return self.out.in_features * self.out.out_features + self.synth.macs_per_frame()

