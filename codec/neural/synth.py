"""The source-filter synthesiser: per-frame f0, voicing, envelope and aperiodicity → waveform.

A fixed DSP model, nothing learned, exportable to ONNX (plain Cos/Sin/Atan/MatMul):

- **Harmonics**: ``K`` harmonics of f0, each at the envelope's amplitude and minimum phase at its
  frequency (:mod:`codec.neural.envelope`), scaled by the periodic share ``v (1 - ap)`` and
  faded out towards Nyquist. Between two frame centres the harmonics' complex amplitudes are
  cross-faded and f0 moves linearly; the phase of the fundamental is integrated sample by sample
  from that f0 (in closed form within a chunk) and carried across chunks in the state, never
  learned. Harmonic ``k`` is ``Re(a_k e^{i k φ})``.
- **Noise**: per frame, white noise (a fixed table of spectra, cycled) shaped by the envelope
  and the aperiodic share ``1 - v (1 - ap)``, inverse DFT, square-root Hann window, 50 % overlap,
  so independent frames add up to constant power.

Calibration follows WORLD's CheapTrick, whose power envelope ``sp`` is a density scaled so that
white noise of variance σ² has ``sp ≈ σ²`` and a harmonic of amplitude ``A`` at spacing ``f0``
has ``sp = A² fs / (4 f0)``: harmonics get ``A = 2 sqrt(sp f0 / fs)``, the noise ``sqrt(sp)``.

Timing: chunk ``j`` of the output runs from frame ``j-1``'s centre to frame ``j``'s, so it is
complete once frame ``j``'s parameters are known (the noise frame of frame ``j`` is centred on its
centre and spans chunks ``j`` and ``j+1``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from codec.neural.config import HOP, SAMPLE_RATE, WINDOW
from codec.neural.envelope import ORDER, ap_tents, bin_frequencies, cepstrum_basis, warp
from codec.neural.frontend import dft_bases
from codec.neural.head import overlap_add, overlap_add_step

HARMONICS = 96
NOISE_FRAMES = 256           # the noise table repeats every 5.12 s
NYQUIST_FADE_HZ = (7400.0, 7900.0)
NOISE_SEED = 20261202


@dataclass
class FrameParameters:
    """Source-filter parameters of ``T`` frames: every tensor ``(B, T, …)``."""

    f0: torch.Tensor        # (B, T) Hz
    voicing: torch.Tensor   # (B, T) 0..1
    mcep: torch.Tensor      # (B, T, ORDER+1)
    ap: torch.Tensor        # (B, T, nodes) aperiodic power share 0..1


class SourceFilterSynth(nn.Module):
    """Parameters of frames → audio, whole sequence (:meth:`forward`) or a frame at a time."""

    def __init__(self, harmonics: int = HARMONICS) -> None:
        super().__init__()
        self.harmonics = harmonics
        bins = WINDOW // 2 + 1
        freqs = bin_frequencies(WINDOW)
        cos_bins, _ = cepstrum_basis(2 * math.pi * freqs / SAMPLE_RATE)
        self.register_buffer("bin_cepstrum", torch.tensor(cos_bins.T, dtype=torch.float32),
                             persistent=False)                            # (ORDER+1, bins)
        self.register_buffer("bin_tents", torch.tensor(ap_tents(freqs).T, dtype=torch.float32),
                             persistent=False)                            # (nodes, bins)
        self.register_buffer("k", torch.arange(1, harmonics + 1, dtype=torch.float32),
                             persistent=False)
        self.register_buffer("n", torch.arange(ORDER + 1, dtype=torch.float32), persistent=False)
        rng = np.random.default_rng(NOISE_SEED)
        spectra = np.fft.rfft(rng.standard_normal((NOISE_FRAMES, WINDOW)), axis=-1)
        self.register_buffer("noise_re", torch.tensor(spectra.real, dtype=torch.float32),
                             persistent=False)
        self.register_buffer("noise_im", torch.tensor(spectra.imag, dtype=torch.float32),
                             persistent=False)
        cos, sin = dft_bases()
        weight = torch.full((bins, 1), 2.0)
        weight[0, 0] = weight[-1, 0] = 1.0
        self.register_buffer("idft_cos", cos.t() * weight / WINDOW, persistent=False)
        self.register_buffer("idft_sin", sin.t() * weight / WINDOW, persistent=False)
        window = torch.hann_window(WINDOW, periodic=True).sqrt()
        self.register_buffer("window", window, persistent=False)
        m = torch.arange(HOP, dtype=torch.float32)
        self.register_buffer("fade", m / HOP, persistent=False)            # weight of the new frame
        # Phase advance within a chunk: Σ_{i<m} f0(i) = m f0_prev + (f0 - f0_prev) m(m-1)/(2 HOP).
        self.register_buffer("ramp_prev", m, persistent=False)
        self.register_buffer("ramp_delta", m * (m - 1) / (2 * HOP), persistent=False)

    # ---- per frame -----------------------------------------------------------------------

    def harmonic_amplitudes(self, p: FrameParameters) -> tuple[torch.Tensor, torch.Tensor]:
        """Complex amplitude of every harmonic at each frame's centre: re, im ``(B, T, K)``."""
        f0 = p.f0.unsqueeze(-1)
        freq = f0 * self.k                                                # (B, T, K) Hz
        warped = warp(2 * math.pi * torch.clamp(freq, max=SAMPLE_RATE / 2) / SAMPLE_RATE)
        angles = warped.unsqueeze(-1) * self.n                            # (B, T, K, ORDER+1)
        c = p.mcep.unsqueeze(-2)
        log_amp = (torch.cos(angles) * c).sum(-1)
        phase = -(torch.sin(angles) * c).sum(-1)
        ap = (ap_tents(freq) * p.ap.unsqueeze(-2)).sum(-1)
        periodic = torch.clamp(p.voicing.unsqueeze(-1) * (1.0 - ap), max=1.0)
        low, high = NYQUIST_FADE_HZ
        fade = torch.clamp((high - freq) / (high - low), 0.0, 1.0)
        amp = (2.0 * torch.sqrt(f0 / SAMPLE_RATE) * torch.exp(log_amp)
               * torch.sqrt(torch.clamp(periodic, min=1e-10)) * fade)
        return amp * torch.cos(phase), amp * torch.sin(phase)

    def noise_frames(self, p: FrameParameters, index: torch.Tensor) -> torch.Tensor:
        """Windowed shaped-noise frames ``(B, T, WINDOW)``; ``index (B, T)`` picks table rows."""
        log_amp = p.mcep @ self.bin_cepstrum                              # (B, T, bins)
        ap = p.ap @ self.bin_tents
        share = torch.clamp(1.0 - p.voicing.unsqueeze(-1) * (1.0 - ap), max=1.0)
        shape = torch.exp(log_amp) * torch.sqrt(torch.clamp(share, min=1e-10))
        rows = index.remainder(NOISE_FRAMES).long()
        frames = ((shape * self.noise_re[rows]) @ self.idft_cos
                  - (shape * self.noise_im[rows]) @ self.idft_sin)
        return frames * self.window

    def harmonic_chunks(self, re: torch.Tensor, im: torch.Tensor, prev_re: torch.Tensor,
                        prev_im: torch.Tensor, f0: torch.Tensor, prev_f0: torch.Tensor,
                        start_phase: torch.Tensor) -> torch.Tensor:
        """Chunks from the previous frames' centres to these: ``(B, T, HOP)``.

        Amplitudes ``(B, T, K)``, f0 and start phase ``(B, T)``.
        """
        phase = (start_phase.unsqueeze(-1) + (2 * math.pi / SAMPLE_RATE)
                 * (prev_f0.unsqueeze(-1) * self.ramp_prev
                    + (f0 - prev_f0).unsqueeze(-1) * self.ramp_delta))    # (B, T, HOP)
        angle = phase.unsqueeze(-2) * self.k.unsqueeze(-1)                # (B, T, K, HOP)
        a_re = prev_re.unsqueeze(-1) + (re - prev_re).unsqueeze(-1) * self.fade
        a_im = prev_im.unsqueeze(-1) + (im - prev_im).unsqueeze(-1) * self.fade
        return (a_re * torch.cos(angle) - a_im * torch.sin(angle)).sum(-2)

    @staticmethod
    def chunk_advance(f0: torch.Tensor, prev_f0: torch.Tensor) -> torch.Tensor:
        """Phase the fundamental gains over a chunk (radians)."""
        return (2 * math.pi / SAMPLE_RATE) * (HOP * prev_f0 + (f0 - prev_f0) * (HOP - 1) / 2)

    # ---- whole sequence ------------------------------------------------------------------

    def forward(self, p: FrameParameters) -> torch.Tensor:
        """``T`` frames → ``(B, T*HOP)``: chunk ``j`` runs from frame ``j-1``'s centre to ``j``'s
        (frame ``-1`` is silence at frame 0's f0), as the streaming path from a zero state."""
        batch, steps = p.f0.shape
        re, im = self.harmonic_amplitudes(p)
        prev_re = nn.functional.pad(re, (0, 0, 1, 0))[:, :-1]
        prev_im = nn.functional.pad(im, (0, 0, 1, 0))[:, :-1]
        prev_f0 = torch.cat([p.f0[:, :1], p.f0[:, :-1]], dim=1)
        advance = self.chunk_advance(p.f0, prev_f0).double()
        start = torch.cumsum(advance, dim=1) - advance
        start = torch.remainder(start, 2 * math.pi).float()
        harmonic = self.harmonic_chunks(re, im, prev_re, prev_im, p.f0, prev_f0, start)
        index = torch.arange(steps, device=p.f0.device).expand(batch, steps)
        noise = overlap_add(self.noise_frames(p, index).unsqueeze(2))
        return harmonic.reshape(batch, -1) + noise

    # ---- streaming -----------------------------------------------------------------------

    @property
    def state_size(self) -> int:
        """Previous harmonic amplitudes (re, im), previous f0, phase, noise tail, frame count."""
        return 2 * self.harmonics + 3 + (WINDOW - HOP)

    def step(self, p: FrameParameters, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One frame's parameters (each ``(B, 1, …)``) → the chunk ``(B, HOP)`` ending at its
        centre, and the new state ``(B, state_size)`` (zeros at the start of a stream)."""
        k = self.harmonics
        prev_re, prev_im, prev_f0, phase, count, tail = torch.split(
            state, [k, k, 1, 1, 1, WINDOW - HOP], dim=1)
        started = (count > 0).float()
        prev_f0 = started * prev_f0 + (1.0 - started) * p.f0           # frame -1: frame 0's f0
        re, im = self.harmonic_amplitudes(p)
        harmonic = self.harmonic_chunks(re, im, prev_re.unsqueeze(1), prev_im.unsqueeze(1),
                                        p.f0, prev_f0, phase)[:, 0]
        noise, tail = overlap_add_step(tail, self.noise_frames(p, count))
        phase = torch.remainder(phase + self.chunk_advance(p.f0, prev_f0), 2 * math.pi)
        state = torch.cat([re[:, 0], im[:, 0], p.f0, phase, count + 1, tail], dim=1)
        return harmonic + noise, state

    def macs_per_frame(self) -> int:
        """Multiply-adds per frame: harmonic amplitudes and chunk, noise shaping and inverse DFT."""
        k, bins = self.harmonics, WINDOW // 2 + 1
        amplitudes = k * (ORDER + 1) * 2 + k * 8
        chunk = k * HOP * 4
        noise = (ORDER + 1) * bins + 6 * bins + 2 * bins * WINDOW + WINDOW
        return amplitudes + chunk + noise
