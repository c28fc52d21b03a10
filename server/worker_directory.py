"""Which worker process owns which room, for the front of a multi-worker server.

Every participant of a room must reach the same worker (its peers and relay live there). The
front asks :meth:`WorkerDirectory.route` once per signaling socket: a room already owned by a
live worker stays there; a new room (or one whose worker died) goes to the live worker with the
fewest rooms. A room is forgotten when its last socket through the front closes, or at once
when its worker dies, so the reconnecting participants re-create it on a live worker.
Synchronous bookkeeping, no I/O.
"""
from __future__ import annotations

from collections import Counter


class NoWorker(RuntimeError):
    """No worker is up to take a room."""


class WorkerDirectory:
    """Rooms -> worker index, with the number of sockets the front holds per room."""

    def __init__(self) -> None:
        self.live: set[int] = set()
        self._owner: dict[str, int] = {}
        self._sockets: Counter[str] = Counter()

    def worker_up(self, worker: int) -> None:
        self.live.add(worker)

    def worker_down(self, worker: int) -> list[str]:
        """Mark ``worker`` dead and forget its rooms (returned)."""
        self.live.discard(worker)
        lost = [room for room, owner in self._owner.items() if owner == worker]
        for room in lost:
            del self._owner[room]
            del self._sockets[room]
        return lost

    def route(self, room: str) -> int:
        """The worker for one more socket of ``room`` (counted until :meth:`release`)."""
        owner = self._owner.get(room)
        if owner is None or owner not in self.live:
            if not self.live:
                raise NoWorker("no worker is running")
            load = Counter(self._owner.values())
            owner = self._owner[room] = min(self.live, key=lambda w: (load[w], w))
            self._sockets[room] = 0
        self._sockets[room] += 1
        return owner

    def release(self, room: str, worker: int) -> bool:
        """One socket of ``room`` on ``worker`` closed; an unused room is forgotten (returns
        True). A release for a room that has since moved (its worker died) changes nothing."""
        if self._owner.get(room) != worker:
            return False
        self._sockets[room] -= 1
        if self._sockets[room] > 0:
            return False
        del self._owner[room]
        del self._sockets[room]
        return True

    def sockets(self, room: str) -> int:
        """Sockets the front holds in ``room``."""
        return self._sockets.get(room, 0)

    def owner(self, room: str) -> int | None:
        return self._owner.get(room)

    def rooms_of(self, worker: int) -> int:
        return sum(1 for owner in self._owner.values() if owner == worker)

    @property
    def room_count(self) -> int:
        return len(self._owner)

    @property
    def socket_count(self) -> int:
        return sum(self._sockets.values())
