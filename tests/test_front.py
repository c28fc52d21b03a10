"""server/front.py in process, in front of a real worker (CallServer) on loopback."""
from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web

from server.config import Limits, ServerConfig
from server.front import Front
from server.worker_directory import WorkerDirectory
from tests.utils import metric_value, start_server


@pytest.fixture
async def front_url():
    config = ServerConfig(port=0, limits=Limits(sockets_per_address=2, join_seconds=1.0), trusted_front=True)
    worker, worker_runner, worker_url = await start_server(config)
    directory = WorkerDirectory()
    directory.worker_up(0)
    front = Front(config, directory, lambda i: worker_url)
    runner = web.AppRunner(front.make_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/", worker, directory
    await runner.cleanup()
    await worker_runner.cleanup()


async def test_messages_before_the_join_are_answered_here_and_the_join_reaches_the_worker(front_url):
    url, worker, directory = front_url
    async with aiohttp.ClientSession() as http, http.ws_connect(url + "ws") as ws:
        await ws.send_str("not json")
        assert (await ws.receive_json())["code"] == "bad-json"
        await ws.send_json({"type": "offer", "sdp": "v=0"})
        assert (await ws.receive_json())["code"] == "not-joined"
        await ws.send_json({"type": "join", "room": "r1", "name": "Ada"})
        joined = await ws.receive_json()
        assert joined["type"] == "joined" and joined["room"] == "r1"
        assert worker.rooms.room_count == 1 and directory.owner("r1") == 0
        assert "127.0.0.1" in worker._per_address  # the client's address, forwarded
        await ws.send_json({"type": "join", "room": "r2", "name": "Ada"})  # a second room on this socket
        reply = await ws.receive_json()
        assert reply["code"] == "bad-room"
        assert (await ws.receive()).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    for _ in range(100):  # the worker sees the socket close and the room empties
        if directory.room_count == 0 and worker.rooms.room_count == 0:
            break
        await asyncio.sleep(0.02)
    assert directory.room_count == 0 and worker.rooms.room_count == 0


async def test_join_timeout_and_sockets_per_address(front_url):
    url, _, _ = front_url
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(url + "ws") as first, http.ws_connect(url + "ws"):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(url + "ws")
            assert refused.value.status == 429
            assert (await first.receive_json(timeout=5))["code"] == "join-timeout"
        async with http.get(url + "metrics") as r:
            text = await r.text()
    assert metric_value(text, "focalcall_front_limit_hits_total", 'limit="sockets-per-address"') == 1
    assert metric_value(text, "focalcall_workers_up") == 1


async def test_a_page_of_this_server_gets_through_and_other_origins_do_not(front_url):
    """The front checks the page's origin, and the worker, given the front's Host, agrees."""
    url, worker, _ = front_url
    origin = url.rstrip("/")
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(url + "ws", headers={"Origin": origin}) as ws:
            await ws.send_json({"type": "join", "room": "page", "name": "Ada"})
            assert (await ws.receive_json())["type"] == "joined"
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(url + "ws", headers={"Origin": "https://elsewhere.example"})
        assert refused.value.status == 403
