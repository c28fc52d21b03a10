"""A token bucket with the caller's clock: ``rate`` per second sustained, ``burst`` at once."""
from __future__ import annotations


class TokenBucket:
    """Starts full. :meth:`take` spends ``amount`` if that much has accumulated."""

    __slots__ = ("rate", "burst", "_tokens", "_last")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError("rate and burst must be positive")
        self.rate, self.burst = rate, burst
        self._tokens, self._last = burst, now

    def take(self, now: float, amount: float = 1.0) -> bool:
        """Spend ``amount`` tokens at time ``now``; False (nothing spent) if there are too few."""
        if now > self._last:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
        if self._tokens < amount:
            return False
        self._tokens -= amount
        return True
