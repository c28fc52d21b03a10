"""The focalcall server: signaling over WebSocket, one WebRTC peer per participant, relay."""
from __future__ import annotations

import asyncio
import logging
import time
from functools import lru_cache
from typing import Any

from aiohttp import WSMsgType, web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from server.config import ServerConfig
from server.metrics import ServerMetrics, path_delay_estimate, payload_type_label, report_from_message
from server.peer import PeerConnection
from server.rooms import Participant, RoomError, RoomRegistry
from server.signaling import (MAX_MESSAGE_BYTES, ClientMessage, SignalingError, error_message,
                              parse_client_message)
from transport import PacketError, parse_packet

logger = logging.getLogger(__name__)


@lru_cache(maxsize=None)
def codec_delay_seconds(pt: int) -> float:
    """Algorithmic latency (frame + look-ahead) of the codec of payload type ``pt``."""
    from codec.payload_types import decoder_codec_name
    from codec.registry import get_codec

    return get_codec(decoder_codec_name(pt)).algorithmic_latency_ms / 1000

# aiohttp closes the socket on a message over its own limit; keep that well above ours so an
# oversized message gets an error reply instead.
WS_MAX_MSG_SIZE = 16 * MAX_MESSAGE_BYTES


class Endpoint:
    """What the server holds for one participant: the WebSocket and, once offered, the peer."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.peer: PeerConnection | None = None

    async def send(self, message: dict[str, Any]) -> None:
        """Send a signaling message, ignoring a socket that is already closing."""
        if not self.ws.closed:
            try:
                await self.ws.send_json(message)
            except (ConnectionError, RuntimeError) as exc:
                logger.debug("could not send %s: %s", message.get("type"), exc)


class CallServer:
    """Rooms, participants and the audio relay; :meth:`make_app` gives the aiohttp app."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config or ServerConfig()
        self.ice = self.config.effective_ice
        self.rooms = RoomRegistry(self.config.max_participants)
        self.metrics = ServerMetrics()
        self._endpoints: set[Endpoint] = set()
        self._delay_lookups: set[Participant] = set()

    def make_app(self) -> web.Application:
        """The aiohttp application serving signaling, health, metrics and the web page."""
        self.ice.apply()
        app = web.Application()
        app.router.add_get("/ws", self.websocket)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.prometheus)
        app.router.add_get("/", self.index)
        if self.config.models_dir.is_dir():
            app.router.add_static("/models/", self.config.models_dir, show_index=False)
        app.router.add_static("/", self.config.web_root, show_index=False)
        app.on_shutdown.append(self._shutdown)
        return app

    async def index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(self.config.web_root / "index.html")

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "rooms": len(self.rooms.rooms),
                                  "participants": self.rooms.participant_count})

    async def prometheus(self, request: web.Request) -> web.Response:
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        """One participant's signaling session, from connect to leave or disconnect."""
        ws = web.WebSocketResponse(max_msg_size=WS_MAX_MSG_SIZE, heartbeat=20)
        await ws.prepare(request)
        endpoint = Endpoint(ws)
        self._endpoints.add(endpoint)
        participant: Participant | None = None
        try:
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                try:
                    message = parse_client_message(msg.data)
                    self.metrics.signaling_messages.labels(message.type).inc()
                    if message.type == "leave":
                        break
                    participant = await self._handle(endpoint, participant, message)
                except (SignalingError, RoomError) as exc:
                    self.metrics.signaling_errors.labels(exc.code).inc()
                    await endpoint.send(error_message(exc.code, str(exc)))
                except Exception:  # a bug must cost one request, not the server or the socket
                    logger.exception("error handling a signaling message")
                    self.metrics.signaling_errors.labels("internal").inc()
                    await endpoint.send(error_message("internal", "the server failed to handle this message"))
        finally:
            await self._leave(endpoint, participant)
            self._endpoints.discard(endpoint)
            if not ws.closed:
                await endpoint.send({"type": "left"})
                await ws.close()
        return ws

    async def _handle(self, endpoint: Endpoint, participant: Participant | None,
                      message: ClientMessage) -> Participant | None:
        if message.type == "join":
            if participant is not None:
                raise SignalingError("already-joined", f"already joined room {participant.room.name!r}")
            participant = self.rooms.join(message.fields["room"], message.fields["name"])
            participant.endpoint = endpoint
            self._update_gauges()
            others = participant.room.others(participant)
            await endpoint.send({"type": "joined", "id": participant.id, "room": participant.room.name,
                                 "participants": [p.describe() for p in others],
                                 "iceServers": [s.as_dict() for s in self.ice.servers]})
            for other in others:
                await other.endpoint.send({"type": "peer-joined", **participant.describe()})
            logger.info("%s joined %s as %d", participant.name, participant.room.name, participant.id)
            return participant
        if message.type == "offer":
            if participant is None:
                raise SignalingError("not-joined", "send 'join' before 'offer'")
            if endpoint.peer is not None:
                raise SignalingError("already-connected", "this participant already has a connection")
            endpoint.peer = self._make_peer(participant)
            try:
                answer = await endpoint.peer.answer(message.fields["sdp"])
            except (ValueError, AttributeError, KeyError, IndexError) as exc:
                peer, endpoint.peer = endpoint.peer, None
                await peer.close()
                raise SignalingError("bad-sdp", f"could not apply the offer: {exc}") from None
            await endpoint.send({"type": "answer", "sdp": answer})
        return participant

    def _make_peer(self, participant: Participant) -> PeerConnection:
        return PeerConnection(self.ice, self.metrics,
                              on_audio=lambda packet: self.relay(participant, packet),
                              on_control=lambda message: self._control(participant, message))

    def relay(self, sender: Participant, packet: bytes) -> None:
        """Send ``packet`` from ``sender`` to everyone else in the room, unchanged."""
        started = time.perf_counter()
        try:
            parsed = parse_packet(packet)
        except PacketError:
            self.metrics.malformed_packets.labels("parse").inc()
            return
        if parsed.sender != sender.id:
            self.metrics.malformed_packets.labels("sender").inc()
            return
        self.metrics.observe_payload_type(sender, parsed.payload_type)
        if self.metrics.codec_delay(sender) is None:
            self._learn_codec_delay(sender, parsed.payload_type)
        self.metrics.packets_in.inc()
        self.metrics.bytes_in.inc(len(packet))
        for other in sender.room.others(sender):
            peer = other.endpoint.peer
            if peer is not None and peer.send_audio(packet):
                self.metrics.packets_relayed.inc()
                self.metrics.bytes_relayed.inc(len(packet))
            else:
                self.metrics.packets_not_relayed.inc()
        self.metrics.relay_seconds.observe(time.perf_counter() - started)

    def _learn_codec_delay(self, sender: Participant, pt: int) -> None:
        """Look up (off the event loop: a neural codec loads its model) the algorithmic delay
        of ``sender``'s codec, for the mouth-to-ear estimate."""
        if sender in self._delay_lookups:
            return
        self._delay_lookups.add(sender)

        def done(future: asyncio.Future) -> None:
            if future.exception() is not None:  # unknown codec: keep it in the set, don't retry
                logger.info("no codec delay for payload type %d: %s", pt, future.exception())
                return
            self._delay_lookups.discard(sender)
            if sender.room.participants.get(sender.id) is sender:
                self.metrics.set_sender_codec(sender, payload_type_label(pt), future.result())

        asyncio.get_running_loop().run_in_executor(None, codec_delay_seconds, pt).add_done_callback(done)

    def _control(self, participant: Participant, message: str | bytes) -> None:
        """Control-channel messages are receiver reports (binary or JSON): they feed the metrics
        and go on, in binary, to the sender they describe."""
        try:
            report = report_from_message(message)
        except ValueError as exc:
            self.metrics.malformed_packets.labels("control").inc()
            logger.debug("bad control message from %d: %s", participant.id, exc)
            return
        sender = participant.room.participants.get(report.sender)
        if sender is None or sender is participant:
            self.metrics.malformed_packets.labels("report-sender").inc()
            return
        self.metrics.observe_report(participant, sender, report, self._path_delay(sender, participant))
        if sender.endpoint.peer is not None:  # the sender adapts its redundancy to it
            sender.endpoint.peer.send_control(report.to_bytes())

    def _path_delay(self, sender: Participant, receiver: Participant) -> float | None:
        """Codec delay plus both network legs (half each SCTP round trip), if all are known."""
        codec_delay = self.metrics.codec_delay(sender)
        peers = (sender.endpoint.peer, receiver.endpoint.peer)
        if codec_delay is None or None in peers:
            return None
        return path_delay_estimate(codec_delay, peers[0].rtt_seconds(), peers[1].rtt_seconds())

    async def _leave(self, endpoint: Endpoint, participant: Participant | None) -> None:
        if endpoint.peer is not None:
            await endpoint.peer.close()
        if participant is None:
            return
        room = participant.room
        self.rooms.leave(participant)
        self.metrics.forget(participant)
        self._delay_lookups.discard(participant)
        self._update_gauges()
        for other in room.others(participant):
            await other.endpoint.send({"type": "peer-left", "id": participant.id})
        logger.info("%s left %s", participant.name, room.name)

    def _update_gauges(self) -> None:
        self.metrics.rooms.set(len(self.rooms.rooms))
        self.metrics.participants.set(self.rooms.participant_count)

    async def _shutdown(self, app: web.Application) -> None:
        await asyncio.gather(*(e.ws.close(code=1001, message=b"server shutdown") for e in list(self._endpoints)),
                             return_exceptions=True)
