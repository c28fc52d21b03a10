"""server/node_directory.py against a real redis-server: one owner per room, heartbeats, release."""
from __future__ import annotations

import asyncio
import shutil

import pytest

from server.node_directory import PREFIX, NodeDirectory
from tests.test_nodes import start_redis
from tests.test_attacks import free_port

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs Debian's redis-server")


@pytest.fixture
def redis_url():
    port = free_port()
    server = start_redis(port)
    yield f"redis://127.0.0.1:{port}/0"
    server.kill()
    server.wait(5)


async def test_one_owner_until_its_heartbeat_lapses(redis_url):
    a = NodeDirectory(redis_url, "http://a:1/", heartbeat_s=0.1, ttl_s=0.3)
    b = NodeDirectory(redis_url, "http://b:1/", heartbeat_s=0.1, ttl_s=0.3)
    await a.start()
    await b.start()
    try:
        claims = await asyncio.gather(*(d.claim("r") for d in (a, b, a, b)))
        assert len(set(claims)) == 1  # whoever won, everyone sees the same owner
        owner, other = (a, b) if claims[0] == a.node else (b, a)
        await other.release("r")  # not the owner's: nothing happens
        assert await a.owner("r") == owner.node
        await other.set_sockets("r", 9)  # nor this
        await owner.set_sockets("r", 2)
        assert await a.redis.hget(PREFIX + "room:r", "sockets") == b"2"
        owner._task.cancel()  # the owner stops heartbeating (as if it froze)
        await asyncio.sleep(0.5)
        assert await other.claim("r") == other.node
        assert await owner.claim("r") == other.node
        await other.release("r")
        assert await a.owner("r") is None
    finally:
        await a.stop()
        await b.stop()


async def test_a_draining_node_gives_its_rooms_up_at_once(redis_url):
    a = NodeDirectory(redis_url, "http://a:1/")
    b = NodeDirectory(redis_url, "http://b:1/")
    await a.start()
    await b.start()
    try:
        assert await a.claim("r") == a.node and await b.claim("r") == a.node
        await a.stop()
        assert await b.claim("r") == b.node
    finally:
        await b.stop()


def test_settings_are_checked():
    with pytest.raises(ValueError):
        NodeDirectory("redis://127.0.0.1:1/0", "http://a:1", heartbeat_s=1.0, ttl_s=1.0)
    assert NodeDirectory("redis://127.0.0.1:1/0", "http://a:1").node == "http://a:1/"
