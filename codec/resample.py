"""Sample-rate conversion by a rational factor with a Kaiser-windowed-sinc polyphase FIR.

One filter design serves both paths: :func:`resample` (offline, time-aligned output) and
:class:`StreamResampler` (chunk by chunk, as a live call does; output lags by ``delay``).
The filter passes up to 90% of the lower Nyquist frequency and rejects everything above
it by 80 dB, so e.g. 16 kHz speech going to Codec2 at 8 kHz is not aliased.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import ceil, gcd

import numpy as np
from scipy import signal

STOPBAND_DB = 80.0
PASSBAND = 0.90  # passband edge as a fraction of the lower Nyquist frequency
# Above this up/down factor the polyphase filter gets huge (e.g. 44101 Hz -> 16 kHz);
# such odd rates are resampled offline in the frequency domain instead.
MAX_FACTOR = 1024


@dataclass(frozen=True)
class _Design:
    """A polyphase FIR for ``up``/``down`` conversion; ``delay`` is in output samples."""

    up: int
    down: int
    taps: np.ndarray  # float64, length 2 * down * delay + 1, gain ``up``
    delay: int

    @property
    def phases(self) -> np.ndarray:
        """``(up, taps_per_phase)``: row ``p`` holds taps ``p, p + up, p + 2 up, ...``."""
        per_phase = ceil(len(self.taps) / self.up)
        padded = np.zeros(per_phase * self.up)
        padded[: len(self.taps)] = self.taps
        return padded.reshape(per_phase, self.up).T.copy()


def _factors(src_rate: int, dst_rate: int) -> tuple[int, int]:
    if src_rate <= 0 or dst_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {src_rate} and {dst_rate}")
    g = gcd(src_rate, dst_rate)
    return dst_rate // g, src_rate // g


@lru_cache(maxsize=32)
def _design(up: int, down: int) -> _Design:
    # The filter runs at the upsampled rate; frequencies are relative to its Nyquist (1.0).
    edge = 1.0 / max(up, down)
    width = (1.0 - PASSBAND) * edge
    numtaps, beta = signal.kaiserord(STOPBAND_DB, width)
    # An odd length whose group delay is a whole number of output samples.
    delay = max(1, ceil((numtaps - 1) / (2 * down)))
    numtaps = 2 * down * delay + 1
    taps = signal.firwin(numtaps, edge - width / 2, window=("kaiser", beta)) * up
    return _Design(up, down, taps, delay)


def resample_delay(src_rate: int, dst_rate: int) -> int:
    """Group delay of :class:`StreamResampler` for this conversion, in output samples."""
    up, down = _factors(src_rate, dst_rate)
    return 0 if up == down == 1 else _design(up, down).delay


def resampled_length(n: int, src_rate: int, dst_rate: int) -> int:
    """Number of output samples :func:`resample` returns for ``n`` input samples."""
    up, down = _factors(src_rate, dst_rate)
    return -(-n * up // down)


def resample(x: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Resample 1-D ``x`` from ``src_rate`` to ``dst_rate``, time-aligned (no delay).

    Returns float32 of length ``ceil(len(x) * dst_rate / src_rate)``.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"resample expects a 1-D signal, got shape {x.shape}")
    up, down = _factors(src_rate, dst_rate)
    n_out = resampled_length(len(x), src_rate, dst_rate)
    if up == down == 1 or len(x) == 0:
        return x.astype(np.float32)
    if max(up, down) > MAX_FACTOR:
        return signal.resample(x, n_out).astype(np.float32)
    d = _design(up, down)
    # Zero tail so that the convolution covers output samples delay .. delay + n_out.
    tail = np.zeros(ceil((d.delay + 1) * down / up) + 1)
    y = signal.upfirdn(d.taps, np.concatenate([x, tail]), up, down)
    return y[d.delay: d.delay + n_out].astype(np.float32)


class StreamResampler:
    """Streaming rational resampler with state carried across :meth:`process` calls.

    Output sample ``n`` of the stream equals sample ``n - delay`` of :func:`resample` applied
    to the whole input (``delay`` is in output samples). Feeding chunks whose length is a multiple of
    ``src_rate / gcd(src_rate, dst_rate)`` yields exactly ``len * dst_rate / src_rate`` samples.
    """

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        self.src_rate, self.dst_rate = src_rate, dst_rate
        self.up, self.down = _factors(src_rate, dst_rate)
        if max(self.up, self.down) > MAX_FACTOR:
            raise ValueError(f"cannot stream-resample {src_rate} Hz -> {dst_rate} Hz: "
                             f"ratio {self.up}/{self.down} is too fine")
        self._identity = self.up == self.down == 1
        if self._identity:
            self.delay = 0
            return
        d = _design(self.up, self.down)
        self.delay = d.delay
        self._phases = d.phases  # (up, T)
        self._history = self._phases.shape[1]  # input samples one output needs
        self.reset()

    def reset(self) -> None:
        """Forget all past input, as if freshly created."""
        if not self._identity:
            self._buf = np.zeros(self._history, dtype=np.float64)  # last inputs, oldest first
            self._n_in = 0  # total input samples seen
            self._n_out = 0  # total output samples produced

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Push a 1-D chunk of input; return the float32 output it completes."""
        chunk = np.asarray(chunk, dtype=np.float64)
        if chunk.ndim != 1:
            raise ValueError(f"resampler expects a 1-D chunk, got shape {chunk.shape}")
        if self._identity:
            return chunk.astype(np.float32)
        buf = np.concatenate([self._buf, chunk])
        first_in = self._n_in - self._history  # absolute index of buf[0]
        self._n_in += len(chunk)
        # Output n needs input floor(n * down / up), which exists once n * down < n_in * up.
        n_end = -(-self._n_in * self.up // self.down)
        n = np.arange(self._n_out, n_end)
        self._n_out = n_end
        self._buf = buf[-self._history:]
        if len(n) == 0:
            return np.zeros(0, dtype=np.float32)
        pos = n * self.down
        newest = pos // self.up - first_in  # index in buf of the newest input each output uses
        idx = newest[:, None] - np.arange(self._history)[None, :]
        y = np.einsum("ij,ij->i", buf[idx], self._phases[pos % self.up])
        return y.astype(np.float32)
