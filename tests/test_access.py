"""Who may join, and the limits on what a socket can make the server do: live attacks on a real
server over real WebSockets (and real aiortc peers where media is involved), on loopback."""
from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import pytest
from prometheus_client import generate_latest

from server.config import Limits, ServerConfig
from server.tokens import RoomGrant, mint_token
from tests.attacker import RawPeer
from tests.utils import metric_value, start_server

pytestmark = pytest.mark.network
SECRET = b"k" * 32


def token(room: str = "standup", identity: str = "ada", name: str | None = "Ada", ttl: int = 600, **more) -> str:
    return mint_token(SECRET, RoomGrant(room=room, identity=identity, name=name,
                                        expires=int(time.time()) + ttl, **more))


@pytest.fixture
async def guarded():
    """A server that needs room tokens (as outside loopback), with short timers."""
    srv, runner, url = await start_server(ServerConfig(port=0, secret=SECRET, open_rooms=False, limits=Limits(
        join_seconds=1.0, connect_seconds=1.0, max_participants=3, sockets_per_address=6, max_rooms=3)))
    yield srv, url
    await runner.cleanup()


def metrics(srv) -> str:
    return generate_latest(srv.metrics.registry).decode()


async def _ws(http: aiohttp.ClientSession, url: str, **kwargs) -> aiohttp.ClientWebSocketResponse:
    return await http.ws_connect(url + "ws", **kwargs)


async def _replies(ws: aiohttp.ClientWebSocketResponse, timeout: float = 3.0) -> list:
    """Everything the server sends until it closes the socket."""
    out = []
    while True:
        msg = await asyncio.wait_for(ws.receive(), timeout)
        if msg.type != aiohttp.WSMsgType.TEXT:
            return out
        out.append(msg.json())


async def test_a_stranger_learns_nothing_about_a_room(guarded):
    srv, url = guarded
    async with aiohttp.ClientSession() as http:
        member = await _ws(http, url)
        await member.send_json({"type": "join", "room": "standup", "name": "x", "token": token()})
        joined = await member.receive_json()
        assert joined["type"] == "joined" and joined["name"] == "Ada"  # the token's name, not the requested one
        answers = {}
        other_room = token(room="other")  # made once: a second token may carry a later expiry
        for room, tok in [("standup", None), ("nowhere", None), ("standup", "not.a.token"),
                          ("nowhere", "not.a.token"), ("standup", other_room)]:
            ws = await _ws(http, url)
            message = {"type": "join", "room": room, "name": "Eve"} | ({"token": tok} if tok else {})
            await ws.send_json(message)
            replies = await _replies(ws)
            assert [r["type"] for r in replies] == ["error"] and replies[0]["code"] == "unauthorized", replies
            assert ws.closed  # and the socket is closed: no second guess
            answers[(room, tok)] = replies[0]["message"]
        # the same refusal whether or not the room exists (and has members)
        assert answers[("standup", None)] == answers[("nowhere", None)]
        assert answers[("standup", "not.a.token")] == answers[("nowhere", "not.a.token")]
        assert "another room" in answers[("standup", other_room)]
        # the member heard of none of it
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(member.receive(), 0.3)
        await member.close()
    assert metric_value(metrics(srv), "focalcall_auth_failures_total", 'reason="token"') == 5


async def test_expired_and_listen_only_tokens_and_turn_credentials():
    from server.turn import TurnSettings

    turn = TurnSettings(("turn:turn.example.com:3478",), b"turn-secret", ttl_s=600)
    srv, runner, url = await start_server(ServerConfig(port=0, secret=SECRET, open_rooms=False, turn=turn))
    try:
        async with aiohttp.ClientSession() as http:
            ws = await _ws(http, url)
            await ws.send_json({"type": "join", "room": "standup", "name": "x", "token": token(ttl=-100)})
            assert "expired" in (await _replies(ws))[0]["message"]
            ws = await _ws(http, url)
            await ws.send_json({"type": "join", "room": "standup", "name": "Lu",
                                "token": token(identity="lu", name=None, rights=("subscribe",))})
            joined = await ws.receive_json()
            assert joined["name"] == "Lu"
            [entry] = joined["iceServers"]  # only now, and only to an admitted participant
            expiry, who = entry["username"].split(":")
            assert who == "lu" and 590 <= int(expiry) - time.time() <= 600
            import base64
            import hashlib
            import hmac
            assert entry["credential"] == base64.b64encode(
                hmac.new(b"turn-secret", entry["username"].encode(), hashlib.sha1).digest()).decode()
            assert srv.rooms.find("standup", "lu").can_publish is False
            await ws.close()
    finally:
        await runner.cleanup()


async def test_the_same_identity_again_replaces_the_first_session(guarded):
    srv, url = guarded
    async with aiohttp.ClientSession() as http:
        first, other = await _ws(http, url), await _ws(http, url)
        await first.send_json({"type": "join", "room": "standup", "name": "x", "token": token()})
        await first.receive_json()
        await other.send_json({"type": "join", "room": "standup", "name": "x", "token": token("standup", "bo", "Ada")})
        assert (await other.receive_json())["name"] == "Ada (2)"  # names are unique within a room
        assert (await first.receive_json())["type"] == "peer-joined"
        second = await _ws(http, url)
        await second.send_json({"type": "join", "room": "standup", "name": "x", "token": token()})
        assert (await second.receive_json())["name"] == "Ada"
        replies = await _replies(first)
        assert replies[0]["code"] == "replaced" and first.closed
        assert srv.rooms.participant_count == 2
        for ws in (second, other):
            await ws.close()


async def test_pages_of_other_origins_are_refused():
    srv, runner, url = await start_server(ServerConfig(port=0, allowed_origins=("https://app.example.com",)))
    host = url.split("/")[2]
    try:
        async with aiohttp.ClientSession() as http:
            for origin, allowed in [("http://evil.example", False), ("null", False), (f"http://{host}", True),
                                    ("https://app.example.com", True), (None, True)]:
                headers = {"Origin": origin} if origin else {}
                if allowed:
                    ws = await _ws(http, url, headers=headers)
                    await ws.close()
                else:
                    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                        await _ws(http, url, headers=headers)
                    assert err.value.status == 403
    finally:
        await runner.cleanup()
    assert metric_value(metrics(srv), "focalcall_auth_failures_total", 'reason="origin"') == 2


async def test_squatters_are_removed_and_the_real_person_gets_in(guarded):
    """Sockets that join and never connect media fill the room only until the connect timeout;
    sockets that never join are closed after the join timeout."""
    srv, url = guarded
    async with aiohttp.ClientSession() as http:
        squatters = []
        for i in range(3):
            ws = await _ws(http, url)
            await ws.send_json({"type": "join", "room": "standup", "name": "s", "token": token(identity=f"s{i}")})
            assert (await ws.receive_json())["type"] == "joined"
            squatters.append(ws)
        idle = await _ws(http, url)
        late = await _ws(http, url)
        await late.send_json({"type": "join", "room": "standup", "name": "x", "token": token(identity="real")})
        assert (await late.receive_json())["code"] == "room-full"
        started = time.monotonic()
        for ws in squatters:
            codes = [r.get("code") for r in await _replies(ws)]
            assert "connect-timeout" in codes and ws.closed
        assert [r["code"] for r in await _replies(idle)] == ["join-timeout"]
        assert time.monotonic() - started < 3
        real = await RawPeer.join(url, "standup", "Real", token(identity="real2"))
        await asyncio.sleep(1.5)  # longer than the connect timeout: a connected peer stays
        assert srv.rooms.participant_count == 1
        await real.close()
    text = metrics(srv)
    assert metric_value(text, "focalcall_limit_hits_total", 'limit="connect-timeout"') == 3
    assert metric_value(text, "focalcall_limit_hits_total", 'limit="join-timeout"') >= 1
    assert metric_value(text, "focalcall_limit_hits_total", 'limit="room-full"') == 1


async def test_a_message_flood_is_dropped_then_closed(guarded):
    srv, url = guarded
    async with aiohttp.ClientSession() as http:
        ws = await _ws(http, url)
        started = time.monotonic()
        for _ in range(10_000):
            await ws.send_str('{"type": "dance"}')
        replies = await _replies(ws, timeout=5)
        codes = [r["code"] for r in replies]
        assert codes.count("unknown-type") <= 30  # the burst was answered, the rest dropped
        assert codes[-1] == "rate-limited" and "rate-limited" in codes[:31]
        assert ws.closed and time.monotonic() - started < 10
    assert metric_value(metrics(srv), "focalcall_sessions_closed_total", 'reason="rate-limited"') == 1


async def test_sockets_per_address_and_rooms_are_bounded(guarded):
    srv, url = guarded
    async with aiohttp.ClientSession() as http:
        sockets = [await _ws(http, url) for _ in range(6)]
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await _ws(http, url)
        assert err.value.status == 429
        for i, ws in enumerate(sockets[:4]):
            await ws.send_json({"type": "join", "room": f"r{i}", "name": "x", "token": token(f"r{i}", f"u{i}")})
        replies = [await ws.receive_json() for ws in sockets[:4]]
        assert [r["type"] for r in replies[:3]] == ["joined"] * 3 and replies[3]["code"] == "too-many-rooms"
        for ws in sockets:
            await ws.close()
        await asyncio.sleep(0.2)
        ws = await _ws(http, url)  # the count went down with the sockets
        await ws.close()
    text = metrics(srv)
    assert metric_value(text, "focalcall_limit_hits_total", 'limit="sockets-per-address"') == 1
    assert metric_value(text, "focalcall_limit_hits_total", 'limit="too-many-rooms"') == 1


async def test_deep_json_is_refused_without_a_traceback(caplog, guarded):
    srv, url = guarded
    caplog.set_level(logging.DEBUG)
    async with aiohttp.ClientSession() as http:
        ws = await _ws(http, url)
        for _ in range(20):
            await ws.send_str("[" * 30_000 + "]" * 30_000)
        replies = [await ws.receive_json() for _ in range(20)]
        assert {r["code"] for r in replies} == {"too-deep"}
        await ws.close()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert metric_value(metrics(srv), "focalcall_signaling_errors_total", 'code="internal"') == 0


async def test_junk_sdp_is_refused_and_the_peer_can_still_offer():
    srv, runner, url = await start_server()
    try:
        async with aiohttp.ClientSession() as http:
            ws = await _ws(http, url)
            await ws.send_json({"type": "join", "room": "r", "name": "x"})
            await ws.receive_json()
            good = await _offer_sdp()
            for junk, words in [("x" * 32_000, "longer than"), ("v=0\r\n" + "a=" + "j" * 20_000, "longer than"),
                                (good.replace("a=setup:actpass", "a=setup:zzz"), "could not apply"),
                                (good.replace("m=application", "m=video"), "m=application")]:
                await ws.send_json({"type": "offer", "sdp": junk})
                reply = await ws.receive_json()
                assert reply["code"] == "bad-sdp" and words in reply["message"], reply
            await ws.send_json({"type": "offer", "sdp": good})
            assert (await ws.receive_json())["type"] == "answer"  # not 'already-connected'
            await ws.close()
    finally:
        await runner.cleanup()


async def _offer_sdp() -> str:
    from aiortc import RTCConfiguration, RTCPeerConnection

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.createDataChannel("audio")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


async def test_drain_tells_everyone_and_refuses_new_sockets():
    srv, runner, url = await start_server()
    try:
        async with aiohttp.ClientSession() as http:
            ws = await _ws(http, url)
            await ws.send_json({"type": "join", "room": "r", "name": "x"})
            await ws.receive_json()
            drain = asyncio.create_task(srv.drain(5.0))
            assert (await ws.receive_json())["type"] == "draining"
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                await _ws(http, url)
            assert err.value.status == 503
            async with http.get(url + "healthz") as r:
                assert r.status == 503 and (await r.json())["status"] == "draining"
            await ws.close()  # the client leaves: the drain ends early
            started = time.monotonic()
            await drain
            assert time.monotonic() - started < 2
    finally:
        await runner.cleanup()


async def test_packets_no_codec_can_play_are_dropped_and_listen_only_members_cannot_send():
    srv, runner, url = await start_server(ServerConfig(port=0, secret=SECRET, open_rooms=True))
    try:
        a = await RawPeer.join(url, "r", "A")
        b = await RawPeer.join(url, "r", "B")
        lu = await RawPeer.join(url, "r", "Lu", token("r", "lu", "Lu", rights=("subscribe",)))
        for seq in range(20):
            a.audio.send(a.packet(seq, 2 * seq, pt=63))  # payload type 63: no codec
            lu.audio.send(lu.packet(seq, 2 * seq))
            await asyncio.sleep(0.05)
        got = []
        while not b.received.empty():
            got.append(b.received.get_nowait())
        assert len(got) < 10 and all(p[7] == a.id for p in got)  # only before the lookup said "no codec"
        for peer in (a, b, lu):
            await peer.close()
    finally:
        await runner.cleanup()
    text = metrics(srv)
    assert metric_value(text, "focalcall_malformed_packets_total", 'reason="payload-type"') >= 10
    assert metric_value(text, "focalcall_malformed_packets_total", 'reason="not-allowed"') == 20
