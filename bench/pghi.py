"""Phase from STFT magnitude alone: phase-gradient heap integration (PGHI).

After Průša, Balazs and Søndergaard, "A noniterative method for reconstruction of phase from
STFT magnitude" (IEEE/ACM TASLP 2017). For a Gaussian-like window the phase derivatives follow
from the log-magnitude ``s``: along time (instantaneous frequency, radians a hop)
``hop·N/γ · ∂s/∂bin + 2π·hop·bin/N``, along frequency (radians a bin) ``−γ/(hop·N) · ∂s/∂frame``,
with ``γ = 0.25645 · N²`` for a Hann window of N samples and phases taken at the window's
centre. The phase is then integrated from the loudest coefficients outwards (a max-heap), so
every bin takes its phase from its strongest neighbour. ``causal=True`` differentiates along
time backwards only, as a frame-by-frame (real-time) version would. :func:`rebuild` applies it to
a signal: its own 40 ms / 10 ms STFT magnitude under the rebuilt phase.
"""
from __future__ import annotations

import heapq

import numpy as np
from scipy.signal import istft, stft

HANN_GAMMA = 0.25645  # a Hann window of N samples spreads like a Gaussian of λ = 0.25645 N²
WINDOW, HOP = 640, 160  # the STFT :func:`rebuild` uses at 16 kHz: 40 ms Hann, 10 ms hop


def pghi_phase(magnitude: np.ndarray, hop: int, causal: bool = False,
               tolerance: float = 1e-5) -> np.ndarray:
    """``(bins, frames)`` one-sided STFT magnitude (window of ``2 * (bins - 1)`` samples) →
    phase with its origin at each frame's start, as ``scipy.signal.stft`` gives it.

    Coefficients more than ``tolerance`` below the loudest get a random phase.
    """
    bins, frames = magnitude.shape
    n_fft = 2 * (bins - 1)
    gamma = HANN_GAMMA * n_fft ** 2
    s = np.log(np.maximum(magnitude, 1e-12))
    ds_dframe = (np.diff(s, axis=1, prepend=s[:, :1]) if causal else np.gradient(s, axis=1))
    k = np.arange(bins)[:, None]
    along_time = hop * n_fft / gamma * np.gradient(s, axis=0) + 2 * np.pi * hop * k / n_fft
    along_freq = -gamma / (hop * n_fft) * ds_dframe
    phase = np.zeros((bins, frames))
    quiet = s < s.max() + np.log(tolerance)
    phase[quiet] = np.random.default_rng(0).uniform(-np.pi, np.pi, int(quiet.sum()))
    for n in range(frames):
        heap = [] if n == 0 else [(-s[b, n - 1], b, n - 1) for b in np.flatnonzero(~quiet[:, n - 1])]
        heapq.heapify(heap)
        todo = set(np.flatnonzero(~quiet[:, n]).tolist())
        while todo:
            if not heap:  # an onset: nothing to integrate from, start at the loudest bin
                b = max(todo, key=lambda q: s[q, n])
                todo.discard(b)
                heapq.heappush(heap, (-s[b, n], b, n))
            _, b, f = heapq.heappop(heap)
            if f < n:  # from the previous frame, along time
                if b in todo:
                    phase[b, n] = phase[b, n - 1] + 0.5 * (along_time[b, n - 1] + along_time[b, n])
                    todo.discard(b)
                    heapq.heappush(heap, (-s[b, n], b, n))
                continue
            for other in (b - 1, b + 1):  # within this frame, along frequency
                if other in todo:
                    step = 0.5 * (along_freq[b, n] + along_freq[other, n])
                    phase[other, n] = phase[b, n] + (step if other > b else -step)
                    todo.discard(other)
                    heapq.heappush(heap, (-s[other, n], other, n))
    return phase - np.pi * k  # centre origin → frame-start origin (n_fft / 2 samples later)


def rebuild(audio: np.ndarray, causal: bool = False) -> np.ndarray:
    """``audio`` (16 kHz) resynthesised from its STFT magnitude under a PGHI phase."""
    magnitude = np.abs(stft(audio, 16000, nperseg=WINDOW, noverlap=WINDOW - HOP)[2])
    spectrum = magnitude * np.exp(1j * pghi_phase(magnitude, HOP, causal=causal))
    out = istft(spectrum, 16000, nperseg=WINDOW, noverlap=WINDOW - HOP)[1][:len(audio)]
    return out.astype(np.float32)
