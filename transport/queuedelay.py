"""Receiver side: how much queueing delay a sender's packets meet, and whether it grows.

When a sender overruns a narrow link the bottleneck's queue fills, so one-way delay climbs
well before the queue overflows; random loss does not raise it (the idea of Google
Congestion Control's delay-based detector). Each packet gives a relative one-way delay

    r = arrival - send_time,  send_time = (timestamp + max(1, frames)) * frame period

(receiver clock minus the sender's media clock at the end of the packet's last primary frame,
when the sender could send it: a keep-alive goes out at its frame's end). Counting from the
end of the packet makes ``r`` independent of how many frames a packet carries, so a sender
that packs more frames does not look delayed. The absolute value of ``r`` is meaningless;
``r`` minus its minimum over ``base_window_s`` of arrival time (the emptiest the path has
been lately, which follows clock drift) is queueing delay. A pause (DTX) just leaves a gap:
the packets after it are measured from their own timestamps, and while nothing is sent the
queue drains, so a talk spurt's restart reads as less delay, never more.

:meth:`report` gives, for the packets since the previous call, the mean queueing delay and
the least-squares slope of ``r`` over arrival time (the trend: positive while a queue
fills, negative while it drains). Timestamps are taken modulo 2**24 (unwrapped against the
newest); reordered packets are simply samples; a timestamp far from the stream (a sender
that restarted) starts the estimate over.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from transport.packet import TS_MOD

RESTART_S = 10.0  # a relative delay this far from the base: a new timeline, start over


@dataclass(frozen=True)
class QueueDelay:
    """Queueing delay over one report interval: ``mean_ms`` above the path's recent minimum,
    ``trend`` the slope of one-way delay over arrival time (ms of delay per s), ``samples``
    the packets it rests on."""

    mean_ms: float
    trend: float
    samples: int


class QueueDelayEstimator:
    """Feed :meth:`packet` for every packet accepted; :meth:`report` once per report."""

    def __init__(self, frame_ms: float = 20.0, base_window_s: float = 20.0) -> None:
        if frame_ms <= 0 or base_window_s <= 0:
            raise ValueError("frame_ms and base_window_s must be positive")
        self._fs = frame_ms / 1000.0
        self.base_window_s = base_window_s
        self._top: int | None = None  # unwrapped newest timestamp
        self._base: deque[tuple[float, float]] = deque()  # (arrival, r), r increasing
        self._interval: list[tuple[float, float]] = []  # (arrival, r) since the last report
        self.restarts = 0

    def packet(self, arrival: float, timestamp: int, frames: int) -> None:
        """One packet (a keep-alive has ``frames`` 0) with ``timestamp`` mod 2**24 arrived at
        ``arrival`` (seconds, receiver clock)."""
        ts = timestamp % TS_MOD
        if self._top is not None:
            delta = (ts - self._top) % TS_MOD
            ts = self._top + (delta - TS_MOD if delta >= TS_MOD // 2 else delta)
        r = arrival - (ts + max(1, frames)) * self._fs
        if self._base and abs(r - self._base[0][1]) > RESTART_S:
            self._restart()
            ts = timestamp % TS_MOD
            r = arrival - (ts + max(1, frames)) * self._fs
        self._top = ts if self._top is None else max(self._top, ts)
        while self._base and self._base[-1][1] >= r:
            self._base.pop()
        self._base.append((arrival, r))
        while self._base[0][0] < arrival - self.base_window_s:
            self._base.popleft()
        self._interval.append((arrival, r))

    def _restart(self) -> None:
        self._top, self._base, self._interval = None, deque(), []
        self.restarts += 1

    def report(self) -> QueueDelay | None:
        """The interval since the previous call (None: no packet in it)."""
        samples, self._interval = self._interval, []
        if not samples:
            return None
        base = self._base[0][1]
        mean_ms = 1000 * sum(r - base for _, r in samples) / len(samples)
        return QueueDelay(max(0.0, mean_ms), 1000 * _slope(samples), len(samples))


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x (0 for fewer than 2 distinct x)."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx <= 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in points) / sxx
