"""The server over real HTTP/WebSocket and real aiortc peers on loopback."""
import asyncio
import json

import aiohttp
import pytest
from prometheus_client import generate_latest
from aiortc import RTCPeerConnection, RTCSessionDescription

from client.signaling import SignalingClient
from rtc.ice import IceSettings
from server.config import ServerConfig
from server.signaling import MAX_MESSAGE_BYTES
from tests.utils import metric_value, start_server
from transport import Packet

LOOPBACK = IceSettings(host_addresses=("127.0.0.1",))


@pytest.fixture
async def server():
    srv, runner, url = await start_server()
    yield srv, url
    await runner.cleanup()


async def test_healthz_metrics_and_page(server):
    _, url = server
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "healthz") as r:
            assert r.status == 200 and await r.json() == {"status": "ok", "rooms": 0, "participants": 0}
        async with http.get(url + "metrics") as r:
            text = await r.text()
            assert "focalcall_participants 0.0" in text and "focalcall_rooms 0.0" in text
        async with http.get(url) as r:
            assert r.status == 200 and "text/html" in r.headers["Content-Type"]
            assert r.headers["Referrer-Policy"] == "no-referrer"  # an invite's room never leaks
        async with http.get(url + "models/focal.json") as r:  # the page loads the codec from here
            assert r.status == 200 and "decoder_onnx" in await r.json()


async def test_malformed_signaling_gets_errors_and_others_keep_being_served(server):
    srv, url = server
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(url + "ws") as good, http.ws_connect(url + "ws") as bad:
            await good.send_json({"type": "join", "room": "r1", "name": "good"})
            assert (await good.receive_json())["type"] == "joined"
            cases = [
                ("{oops", "bad-json"),
                (json.dumps({"type": "dance"}), "unknown-type"),
                (json.dumps({"type": "join", "room": "r1"}), "missing-field"),
                (json.dumps({"type": "join", "room": "x", "name": "a" * (MAX_MESSAGE_BYTES + 10)}), "too-large"),
                (json.dumps({"type": "offer", "sdp": "v=0"}), "not-joined"),
                (json.dumps({"type": "join", "room": "bad room", "name": "x"}), "bad-room"),
            ]
            for text, code in cases:
                await bad.send_str(text)
                reply = await bad.receive_json()
                assert reply["type"] == "error" and reply["code"] == code, reply
                assert reply["message"]
            # the misbehaving socket is still usable, and so is the good one
            await bad.send_json({"type": "join", "room": "r1", "name": "late"})
            assert (await bad.receive_json())["type"] == "joined"
            assert await good.receive_json() == {"type": "peer-joined", "id": 2, "name": "late"}
            await bad.send_json({"type": "offer", "sdp": "this is not SDP"})
            reply = await bad.receive_json()
            assert reply["type"] == "error" and reply["code"] == "bad-sdp"
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "metrics") as r:
            text = await r.text()
    for code in ("bad-json", "unknown-type", "missing-field", "too-large", "not-joined", "bad-room", "bad-sdp"):
        assert metric_value(text, "focalcall_signaling_errors_total", f'code="{code}"') == 1, code
    assert srv.rooms.rooms == {}  # both left when their sockets closed


def _packet(sender: int) -> bytes:
    return Packet(payload_type=12, seq=7, timestamp=14, sender=sender, frames=(b"\xab\xcd", b"\x12\x34")).to_bytes()


async def _raw_peer(url: str, room: str, name: str):
    """A hand-driven participant: signaling plus an aiortc connection with an audio channel."""
    events = []
    signaling = SignalingClient(url, events.append)
    await signaling.connect()
    joined = await signaling.join(room, name)
    pc = RTCPeerConnection(LOOPBACK.rtc_configuration())
    audio = pc.createDataChannel("audio", ordered=False, maxRetransmits=0)
    pc.createDataChannel("control")
    received = asyncio.Queue()
    audio.on("message", received.put_nowait)
    opened = asyncio.Event()
    audio.on("open", opened.set)
    await pc.setLocalDescription(await pc.createOffer())
    answer = await signaling.offer(pc.localDescription.sdp)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    await asyncio.wait_for(opened.wait(), 10)
    return joined["id"], signaling, pc, audio, received


async def test_malformed_packets_are_counted_and_dropped_and_good_ones_relayed(server):
    srv, url = server
    LOOPBACK.apply()
    a_id, a_sig, a_pc, a_audio, _ = await _raw_peer(url, "relay", "A")
    b_id, b_sig, b_pc, _, b_received = await _raw_peer(url, "relay", "B")
    try:
        a_audio.send(b"\x01")                           # too short
        a_audio.send(b"\x00" * 10)                      # wrong version
        a_audio.send(_packet(b_id))                      # claims to be from B
        a_audio.send("text, not bytes")
        good = _packet(a_id)
        a_audio.send(good)
        assert await asyncio.wait_for(b_received.get(), 5) == good
        keepalive = Packet(payload_type=12, seq=8, timestamp=16, sender=a_id, frames=(), quiet=True,
                           version=3, level=50).to_bytes()
        a_audio.send(keepalive)  # DTX: relayed and counted
        assert await asyncio.wait_for(b_received.get(), 5) == keepalive
        await asyncio.sleep(0.1)
        assert b_received.empty()  # nothing malformed got through
    finally:
        for pc, sig in ((a_pc, a_sig), (b_pc, b_sig)):
            await pc.close()
            await sig.close()
    text = generate_latest(srv.metrics.registry).decode()
    for reason, count in (("parse", 2), ("sender", 1), ("text", 1)):
        assert metric_value(text, "focalcall_malformed_packets_total", f'reason="{reason}"') == count
    assert metric_value(text, "focalcall_packets_received_total") == 2
    assert metric_value(text, "focalcall_dtx_keepalives_received_total") == 1
    assert metric_value(text, "focalcall_packets_relayed_total") == 2
    assert metric_value(text, "focalcall_bytes_relayed_total") == len(good) + len(keepalive)


@pytest.mark.parametrize("relay_check", ["header", "full"])
async def test_the_relay_leaves_frames_to_receivers_unless_told_to_parse(relay_check):
    """With the header check a packet whose header is good but whose frames are not is
    forwarded (the receivers' parsers drop it); the full check drops it at the relay."""
    srv, runner, url = await start_server(ServerConfig(port=0, relay_check=relay_check))
    LOOPBACK.apply()
    a_id, a_sig, a_pc, a_audio, _ = await _raw_peer(url, "relay", "A")
    b_id, b_sig, b_pc, _, b_received = await _raw_peer(url, "relay", "B")
    try:
        bad_body = _packet(a_id)[:9] + b"\x00" * 5  # two 2-byte frames and a byte too many
        a_audio.send(bad_body)
        good = _packet(a_id)
        a_audio.send(good)
        first = await asyncio.wait_for(b_received.get(), 5)
        assert first == (bad_body if relay_check == "header" else good)
    finally:
        for pc, sig in ((a_pc, a_sig), (b_pc, b_sig)):
            await pc.close()
            await sig.close()
        await runner.cleanup()
    text = generate_latest(srv.metrics.registry).decode()
    assert metric_value(text, "focalcall_malformed_packets_total", 'reason="parse"') == (relay_check == "full")
