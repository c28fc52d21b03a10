"""Apply a netem specification in userspace, packet by packet, with a seeded generator.

The per-packet steps follow the kernel's ``netem_enqueue``: duplicate decision, loss
decision (random with netem's correlated generator, Gilbert-Elliott or the 4-state
model), corruption of one random bit, queue limit, then either "reorder" (sent at once)
or a delay drawn from the distribution, serialised behind earlier packets at ``rate``.
A duplicate goes through the same steps itself (without duplicating again). Negative
delays (delay - jitter < 0) are clamped to zero; netem sends such packets at once too.

Three uses: :meth:`Impairment.decide` for a live call (the async layer sends each copy
after its delay), :meth:`Impairment.apply` for offline simulation, and the spec's
``to_tc_command`` for a real host.
"""
from __future__ import annotations

import heapq
import random
from dataclasses import dataclass
from statistics import NormalDist
from typing import Iterable

from transport.netem import NetemSpec, parse_netem

_NORMAL = NormalDist()
_TAIL = 4.0  # netem's distribution tables span about +-4 standard deviations
_PARETO_ALPHA = 3.0
_PARETO_MEAN = _PARETO_ALPHA / (_PARETO_ALPHA - 1)
_PARETO_STD = (_PARETO_ALPHA / ((_PARETO_ALPHA - 1) ** 2 * (_PARETO_ALPHA - 2))) ** 0.5


class _Correlated:
    """netem's correlated uniform generator: u = (1 - rho) * fresh + rho * previous.
    (Known to distort the marginal distribution for rho > 0; we copy it, not fix it.)"""

    def __init__(self, rho: float, rng: random.Random) -> None:
        self.rho, self.rng = rho, rng
        self.last = rng.random()

    def __call__(self) -> float:
        fresh = self.rng.random()
        if self.rho == 0:
            return fresh
        self.last = (1.0 - self.rho) * fresh + self.rho * self.last
        return self.last


def _inverse_cdf(distribution: str | None, u: float) -> float:
    """A standardised variate for uniform ``u``: netem's tables, analytically."""
    u = min(max(u, 1e-9), 1 - 1e-9)
    if distribution in (None, "uniform"):
        return 2.0 * u - 1.0  # netem: uniform in [mu - sigma, mu + sigma)
    normal = max(-_TAIL, min(_TAIL, _NORMAL.inv_cdf(u)))
    pareto = ((1.0 - u) ** (-1.0 / _PARETO_ALPHA) - _PARETO_MEAN) / _PARETO_STD
    if distribution == "normal":
        return normal
    if distribution == "pareto":
        return min(pareto, 4 * _TAIL)
    return min(0.75 * pareto + 0.25 * normal, 4 * _TAIL)  # paretonormal: a mixture of both


@dataclass
class ImpairmentStats:
    """Counts of what the impairment did."""

    packets: int = 0
    dropped: int = 0  # by the loss model
    overflow: int = 0  # by the queue limit
    duplicated: int = 0
    corrupted: int = 0
    reordered: int = 0


class Impairment:
    """A stateful, seeded netem emulation. ``seed`` overrides ``spec.seed`` (default 0)."""

    def __init__(self, spec: NetemSpec | str, seed: int | None = None) -> None:
        self.spec = parse_netem(spec) if isinstance(spec, str) else spec
        s = self.spec
        self._rng = random.Random(seed if seed is not None else (s.seed or 0))
        self._loss = _Correlated(s.loss_correlation, self._rng)
        self._dup = _Correlated(s.duplicate_correlation, self._rng)
        self._corrupt = _Correlated(s.corrupt_correlation, self._rng)
        self._reorder = _Correlated(s.reorder_correlation, self._rng)
        self._delay = _Correlated(s.delay_correlation, self._rng)
        self._state = 1  # Gilbert-Elliott: 1 good, 2 bad; 4-state: 1..4 as in the kernel
        self._counter = 0  # packets since the last reordered one
        self._queue: list[float] = []  # departure times of packets still in the qdisc
        self._last_departure = float("-inf")
        self.stats = ImpairmentStats()

    def decide(self, now: float, packet: bytes,
               size: int | None = None) -> list[tuple[float, bytes]]:
        """What happens to ``packet`` sent at ``now`` (seconds, non-decreasing across calls):
        a list of ``(delay_s, bytes)`` copies to deliver, empty when dropped. ``size`` is
        the length the rate limiter charges (default ``len(packet)``; pass the wire size
        to include lower-layer headers)."""
        self.stats.packets += 1
        size = len(packet) if size is None else size
        duplicate = bool(self.spec.duplicate) and self.spec.duplicate >= self._dup()
        out: list[tuple[float, bytes]] = []
        if duplicate:
            self.stats.duplicated += 1
            out += self._enqueue(now, packet, size)
        return self._enqueue(now, packet, size) + out

    def _enqueue(self, now: float, packet: bytes, size: int) -> list[tuple[float, bytes]]:
        s = self.spec
        if self._lose():
            self.stats.dropped += 1
            return []
        if s.corrupt and s.corrupt >= self._corrupt() and packet:
            data = bytearray(packet)
            data[self._rng.randrange(len(data))] ^= 1 << self._rng.randrange(8)
            packet = bytes(data)
            self.stats.corrupted += 1
        while self._queue and self._queue[0] <= now:
            heapq.heappop(self._queue)
        if len(self._queue) >= s.limit:
            self.stats.overflow += 1
            return []
        if s.gap == 0 or self._counter < s.gap - 1 or s.reorder < self._reorder():
            delay = s.delay
            if s.jitter:
                delay += s.jitter * _inverse_cdf(s.distribution, self._delay())
            delay = max(0.0, delay)
            if s.rate:
                start = now
                if self._last_departure > now:  # serialise behind the queue's last packet
                    delay = max(0.0, delay - (self._last_departure - now))
                    start = self._last_departure
                delay = start + delay + self._transmit_time(size) - now
            self._counter += 1
            self._last_departure = max(self._last_departure, now + delay)
        else:
            delay = 0.0
            self._counter = 0
            self.stats.reordered += 1
        heapq.heappush(self._queue, now + delay)
        return [(delay, packet)]

    def _transmit_time(self, size: int) -> float:
        s = self.spec
        size += s.packet_overhead
        if s.cell_size:
            cells = -(-size // s.cell_size)
            size = cells * (s.cell_size + s.cell_overhead)
        return max(0, size) * 8.0 / s.rate

    def _lose(self) -> bool:
        s, rnd = self.spec, self._rng.random
        if s.gemodel:
            p, r, one_minus_h, one_minus_k = s.gemodel
            if self._state == 1:  # the loss uses the state the packet found, then it moves
                if rnd() < p:
                    self._state = 2
                return rnd() < one_minus_k
            if rnd() < r:
                self._state = 1
            return rnd() < one_minus_h
        if s.loss_state:
            return self._lose_4state(rnd())
        return bool(s.loss) and s.loss >= self._loss()

    def _lose_4state(self, u: float) -> bool:
        """The kernel's 4-state Markov model: 1 gap/received, 2 burst/received,
        3 burst/lost, 4 isolated loss."""
        p13, p31, p32, p23, p14 = self.spec.loss_state  # type: ignore[misc]
        if self._state == 1:
            if u < p14:
                self._state = 4
                return True
            if u < p14 + p13:
                self._state = 3
                return True
            return False
        if self._state == 2:
            if u < p23:
                self._state = 3
                return True
            return False
        if self._state == 3:
            if u < p32:
                self._state = 2
            elif u < p32 + p31:
                self._state = 1
            else:
                return True
            return False
        self._state = 1
        return False

    def apply(self, packets: Iterable[tuple[float, bytes]]) -> list[tuple[float, bytes]]:
        """Offline: ``(send_time, packet)`` in send order -> ``(arrival_time, packet)``
        sorted by arrival (ties keep send order)."""
        out: list[tuple[float, int, bytes]] = []
        for t, packet in packets:
            for delay, data in self.decide(t, packet):
                out.append((t + delay, len(out), data))
        out.sort()
        return [(t, data) for t, _, data in out]
