"""Which server node owns which room, kept in Redis so that several nodes share it.

Keys (``PREFIX`` = ``focalcall:``)::

    focalcall:node:<node URL>   "1" while the node lives: set every HEARTBEAT_S with a TTL of TTL_S
    focalcall:room:<room>       hash: node (owner's URL), since (claim time), sockets (at the owner)

A join on any node claims the room (:meth:`NodeDirectory.claim`, one Lua script, so two nodes
never both win): it gets the owner if the owner's heartbeat key is alive, else the room
becomes the caller's. The owner serves every participant; other nodes proxy their sockets to
it. An owner that stops heartbeating (it died, or lost Redis) loses its rooms once its key
expires: the next join re-creates them elsewhere. The owner forgets a room when its last
socket closes (:meth:`release`), and every room of its own when it drains (:meth:`stop`).
"""
from __future__ import annotations

import asyncio
import logging
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

PREFIX = "focalcall:"
HEARTBEAT_S = 1.0
TTL_S = 3.0  # an owner silent this long has lost its rooms

_CLAIM = """
local owner = redis.call('HGET', KEYS[1], 'node')
if owner and redis.call('EXISTS', ARGV[2] .. owner) == 1 then return owner end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'node', ARGV[1], 'since', ARGV[3], 'sockets', 0)
return ARGV[1]
"""
_RELEASE = """
if redis.call('HGET', KEYS[1], 'node') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_SET_SOCKETS = """
if redis.call('HGET', KEYS[1], 'node') == ARGV[1] then return redis.call('HSET', KEYS[1], 'sockets', ARGV[2]) end
return 0
"""


class NodeDirectory:
    """This node's view of the shared room directory. ``node`` is the URL other nodes reach
    this one at (they proxy sockets to ``<node>ws``)."""

    def __init__(self, url: str, node: str, heartbeat_s: float = HEARTBEAT_S, ttl_s: float = TTL_S) -> None:
        if not node.endswith("/"):
            node += "/"
        if ttl_s <= heartbeat_s:
            raise ValueError("the heartbeat TTL must be longer than the heartbeat period")
        self.node = node
        self.heartbeat_s, self.ttl_s = heartbeat_s, ttl_s
        self.redis = aioredis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self.heartbeat_failures = 0
        self._owned: set[str] = set()
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        """The first heartbeat (raises if Redis cannot be reached), then one every period."""
        await self._beat()
        self._task = asyncio.create_task(self._heartbeats())

    async def _beat(self) -> None:
        await self.redis.set(PREFIX + "node:" + self.node, "1", px=int(1000 * self.ttl_s))

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                await self._beat()
            except RedisError as exc:
                self.heartbeat_failures += 1
                logger.warning("heartbeat to Redis failed: %s", exc)

    async def claim(self, room: str) -> str:
        """The URL of the node that owns ``room``, this one if nobody alive did."""
        owner = await self.redis.eval(_CLAIM, 1, _room_key(room), self.node, PREFIX + "node:", f"{time.time():.3f}")
        owner = owner.decode() if isinstance(owner, bytes) else owner
        if owner == self.node:
            self._owned.add(room)
        return owner

    async def set_sockets(self, room: str, sockets: int) -> None:
        """Record how many sockets this owner holds in ``room``."""
        await self.redis.eval(_SET_SOCKETS, 1, _room_key(room), self.node, sockets)

    async def release(self, room: str) -> None:
        """This owner's last socket of ``room`` closed: the room is free."""
        self._owned.discard(room)
        await self.redis.eval(_RELEASE, 1, _room_key(room), self.node)

    async def owner(self, room: str) -> str | None:
        """The recorded owner of ``room`` (alive or not), for tests and tools."""
        value = await self.redis.hget(_room_key(room), "node")
        return value.decode() if value is not None else None

    async def stop(self) -> None:
        """Stop heartbeating and give up every room (a draining node's rooms go elsewhere)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        try:
            for room in list(self._owned):
                await self.release(room)
            await self.redis.delete(PREFIX + "node:" + self.node)
        except RedisError as exc:
            logger.warning("could not leave the Redis directory: %s", exc)
        await self.redis.aclose()


def _room_key(room: str) -> str:
    return PREFIX + "room:" + room
