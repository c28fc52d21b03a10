"""Arrival-delay statistics for the jitter buffer: base delay, target delay, RFC 3550 jitter.

Every frame, when it first becomes available (in its own packet, or later as a redundant
copy), gives a relative delay ``r = arrival - media_time`` (receiver clock minus the
sender's frame clock): its absolute value is meaningless, differences are waiting time.
The base is the smallest ``r`` over a sliding window of arrival time (so it follows clock
drift); the target is a high percentile of ``r - base`` from a histogram with exponential
forgetting (NetEQ's approach), so old spikes fade and new ones are learnt quickly.
Sampling frames rather than packets makes the target cover packetization and the wait for
redundant copies: under loss the buffer learns to hold frames until redundancy arrives.
"""
from __future__ import annotations

from collections import deque

import numpy as np


class DelayEstimator:
    """Tracks ``base`` (s), ``target`` (s) and RFC 3550 interarrival ``jitter`` (s).

    ``target`` is ``initial_s`` until the first frame is seen."""

    def __init__(self, percentile: float, forget: float, window_s: float, initial_s: float,
                 max_s: float, bin_s: float = 0.001) -> None:
        self.percentile, self.forget = percentile, forget
        self.window_s, self.bin_s = window_s, bin_s
        self._hist = np.zeros(int(round(max_s / bin_s)) + 1)
        self._window: deque[tuple[float, float]] = deque()  # (arrival, r), r increasing
        self._last: tuple[float, float] | None = None
        self.jitter = 0.0
        self.target = initial_s
        self._samples = 0

    @property
    def base(self) -> float:
        """Smallest relative delay in the window (the fastest recent packet)."""
        return self._window[0][1]

    @property
    def ready(self) -> bool:
        return bool(self._window)

    def packet(self, arrival: float, media_time: float) -> None:
        """RFC 3550 interarrival jitter, from each packet's first primary frame."""
        if self._last is not None:
            d = abs((arrival - self._last[0]) - (media_time - self._last[1]))
            self.jitter += (d - self.jitter) / 16.0
        self._last = (arrival, media_time)

    def frame(self, arrival: float, media_time: float) -> None:
        """A frame with media time ``media_time`` became available at ``arrival``."""
        r = arrival - media_time
        while self._window and self._window[-1][1] >= r:
            self._window.pop()
        self._window.append((arrival, r))
        while self._window[0][0] < arrival - self.window_s:
            self._window.popleft()
        excess = r - self.base
        # A plain running mean over the first samples, forgetting only after that.
        self._samples += 1
        forget = min(self.forget, 1.0 - 1.0 / (self._samples + 1))
        self._hist *= forget
        self._hist[min(len(self._hist) - 1, int(excess / self.bin_s))] += 1.0 - forget
        cdf = np.cumsum(self._hist)
        k = int(np.searchsorted(cdf, self.percentile * cdf[-1]))
        self.target = (k + 1) * self.bin_s
