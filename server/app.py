"""The focalcall server: signaling over WebSocket, one WebRTC peer per participant, relay."""
from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import Counter
from typing import Any, Awaitable

from aiohttp import WSMsgType, web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from server.access import origin_allowed
from server.codec_facts import CodecFacts, codec_facts
from server.config import ServerConfig
from server.metrics import ServerMetrics, path_delay_estimate, payload_type_label, report_from_message
from server.pages import page_app
from server.peer import PeerConnection
from server.ratelimit import TokenBucket
from server.report_gate import ReportGate
from server.rooms import ALL_RIGHTS, Participant, RoomError, RoomRegistry
from server.sender import SenderState
from server.session import CLOSE_GOING_AWAY, Session
from server.signaling import ClientMessage, SignalingError, check_offer_sdp, error_message, parse_client_message
from server.tokens import TokenError, verify_token
from server.turn import turn_credentials
from transport import Packet, PacketError, parse_packet
from transport.e2ee import is_sealed, parse_sealed_header
from transport.relay_header import is_keepalive, relay_header

logger = logging.getLogger(__name__)

# Dropped messages beyond the rate limit that end a session: a client that keeps flooding
# after being told is not going to stop.
MAX_DROPPED_MESSAGES = 50
WS_CLOSE_TIMEOUT_S = 2.0  # how long closing waits for the client's close frame
UNAUTHORIZED = "unauthorized"
LOOPBACK_ADDRESSES = ("127.0.0.1", "::1")


class CallServer:
    """Rooms, participants and the audio relay; :meth:`make_app` gives the aiohttp app."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config or ServerConfig()
        self.limits = self.config.limits
        self.ice = self.config.effective_ice
        self.rooms = RoomRegistry(self.limits.max_participants, self.limits.max_rooms)
        self.metrics = ServerMetrics()
        self.reports = ReportGate(self.limits.reports_per_second)
        self.draining = False
        self._sessions: set[Session] = set()
        self._per_address: Counter[str] = Counter()
        self._tasks: set[asyncio.Task] = set()
        self._facts: dict[int, CodecFacts | None] = {}  # payload type -> its codec (None: no codec)
        self._facts_lookups: set[int] = set()
        self._full_parse = self.config.relay_check == "full"

    def make_app(self) -> web.Application:
        """The aiohttp application serving signaling, health, metrics and the web page."""
        self.ice.apply()
        app = page_app(self.config, self.websocket, self.healthz, self.prometheus)
        app.on_shutdown.append(lambda _: self.drain(0))
        return app

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "draining" if self.draining else "ok", "rooms": self.rooms.room_count,
                                  "participants": self.rooms.participant_count},
                                 status=503 if self.draining else 200)

    async def prometheus(self, request: web.Request) -> web.Response:
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    # ------------------------------------------------------------------ signaling
    async def websocket(self, request: web.Request) -> web.StreamResponse:
        """One participant's signaling session, from connect to leave or disconnect."""
        if self.draining:
            raise web.HTTPServiceUnavailable(text="the server is shutting down; reconnect shortly\n")
        if not origin_allowed(request.headers.get("Origin"), request.host, self.config.allowed_origins):
            self.metrics.auth_failures.labels("origin").inc()
            raise web.HTTPForbidden(text="this page's origin may not use this server's signaling\n")
        address = request.remote or "unknown"
        if self.config.trusted_front and address in LOOPBACK_ADDRESSES:  # the front on this machine
            address = request.headers.get("X-Forwarded-For", address)
        if self._per_address[address] >= self.limits.sockets_per_address:
            self.metrics.limit_hits.labels("sockets-per-address").inc()
            raise web.HTTPTooManyRequests(text=f"more than {self.limits.sockets_per_address} connections "
                                               "from this address\n")
        self._per_address[address] += 1  # counted before the first await: a burst cannot slip past
        ws = web.WebSocketResponse(max_msg_size=4 * self.limits.max_message_bytes, timeout=WS_CLOSE_TIMEOUT_S,
                                   heartbeat=self.limits.heartbeat_seconds)
        loop = asyncio.get_running_loop()
        session = Session(ws, address, TokenBucket(self.limits.messages_per_second, self.limits.message_burst,
                                                   loop.time()))
        self._sessions.add(session)
        self.metrics.sockets.set(len(self._sessions))
        try:
            await ws.prepare(request)
            session.arm(self.limits.join_seconds, lambda: self._expire(
                session, "join-timeout", f"no join within {self.limits.join_seconds:g} s"))
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                if not await self._admit_message(session, loop.time()):
                    continue
                try:
                    message = parse_client_message(msg.data, self.limits.max_message_bytes,
                                                   self.limits.max_json_depth, self.limits.max_sdp_bytes)
                    self.metrics.signaling_messages.labels(message.type).inc()
                    if message.type == "leave":
                        break
                    await self._handle(session, message)
                except (SignalingError, RoomError) as exc:
                    self.metrics.signaling_errors.labels(exc.code).inc()
                    if exc.code in ("too-large", "too-deep"):
                        self.metrics.limit_hits.labels(exc.code).inc()
                    await session.send(error_message(exc.code, str(exc)))
                    if exc.code == UNAUTHORIZED:
                        await session.end(UNAUTHORIZED)
                except Exception:  # a bug must cost one request, not the server or the socket
                    logger.exception("error handling a signaling message")
                    self.metrics.signaling_errors.labels("internal").inc()
                    await session.send(error_message("internal", "the server failed to handle this message"))
        finally:
            session.disarm()
            await self._leave(session)
            self._sessions.discard(session)
            self.metrics.sockets.set(len(self._sessions))
            self._per_address[address] -= 1
            if not self._per_address[address]:
                del self._per_address[address]
            if ws.prepared and not ws.closed:
                await session.send({"type": "left"})
                await ws.close()
        return ws

    async def _admit_message(self, session: Session, now: float) -> bool:
        """The per-socket message rate limit: excess messages are dropped, the first of a run is
        answered with an error, and a socket that keeps on is closed."""
        if session.messages.take(now):
            session.messages_dropped = 0
            return True
        self.metrics.limit_hits.labels("messages").inc()
        session.messages_dropped += 1
        if session.messages_dropped == 1:
            await session.send(error_message("rate-limited", f"more than {self.limits.messages_per_second:g} "
                                                             "messages a second; messages are being dropped"))
        elif session.messages_dropped >= MAX_DROPPED_MESSAGES:
            self.metrics.sessions_closed.labels("rate-limited").inc()
            await session.end("rate-limited", error_message("rate-limited", "too many messages: closing"))
        return False

    def _expire(self, session: Session, reason: str, text: str) -> None:
        """A session's timer ran out: end it (from a task, the timer cannot wait)."""
        self.metrics.limit_hits.labels(reason).inc()
        self.metrics.sessions_closed.labels(reason).inc()
        self._spawn(session.end(reason, error_message(reason, text)))

    async def _handle(self, session: Session, message: ClientMessage) -> None:
        if message.type == "join":
            await self._join(session, message.fields)
        elif message.type == "offer":
            await self._offer(session, message.fields["sdp"])

    def _authorize(self, fields: dict[str, Any]) -> tuple[str, str, tuple[str, ...]]:
        """Identity, display name and rights for a join, or ``unauthorized``. Nothing here
        looks at room state: a refused socket learns nothing about the room."""
        token = fields.get("token")
        if self.config.rooms_are_open and (token is None or self.config.secret is None):
            return f"guest-{secrets.token_hex(8)}", fields["name"], ALL_RIGHTS
        if self.config.secret is None:
            raise SignalingError(UNAUTHORIZED, "this server does not use room tokens (it has no secret)")
        try:
            grant = verify_token(self.config.secret, token)
        except TokenError as exc:
            self.metrics.auth_failures.labels("token").inc()
            raise SignalingError(UNAUTHORIZED, f"cannot join: {exc}") from None
        if grant.room != fields["room"]:
            self.metrics.auth_failures.labels("token").inc()
            raise SignalingError(UNAUTHORIZED, "cannot join: the token is for another room")
        return grant.identity, grant.name or fields["name"], grant.rights

    async def _join(self, session: Session, fields: dict[str, Any]) -> None:
        if session.participant is not None:
            raise SignalingError("already-joined", f"already joined room {session.participant.room.name!r}")
        identity, name, rights = self._authorize(fields)
        previous = self.rooms.find(fields["room"], identity)
        if previous is not None:  # the same person again (a reconnect): the newer session wins
            self.metrics.sessions_closed.labels("replaced").inc()
            await previous.endpoint.end("replaced", error_message(
                "replaced", "you joined this room again from another connection"))
            await self._leave(previous.endpoint)
        try:
            participant = self.rooms.join(fields["room"], name, identity, rights)
        except RoomError as exc:
            if exc.code in ("room-full", "too-many-rooms"):
                self.metrics.limit_hits.labels(exc.code).inc()
            raise
        participant.endpoint = session
        session.participant = participant
        self._update_gauges()
        session.arm(self.limits.connect_seconds, lambda: self._expire(
            session, "connect-timeout", f"no media connection within {self.limits.connect_seconds:g} s of joining"))
        others = participant.room.others(participant)
        ice_servers = [s.as_dict() for s in self.ice.servers]
        if self.config.turn is not None:
            ice_servers.append(turn_credentials(self.config.turn, identity).as_dict())
        await session.send({"type": "joined", "id": participant.id, "room": participant.room.name,
                            "name": participant.name, "participants": [p.describe() for p in others],
                            "iceServers": ice_servers})
        for other in others:
            await other.endpoint.send({"type": "peer-joined", **participant.describe()})
        logger.info("%s joined %s as %d", participant.name, participant.room.name, participant.id)

    async def _offer(self, session: Session, sdp: str) -> None:
        participant = session.participant
        if participant is None:
            raise SignalingError("not-joined", "send 'join' before 'offer'")
        if session.peer is not None:
            raise SignalingError("already-connected", "this participant already has a connection")
        check_offer_sdp(sdp)
        peer = session.peer = self._make_peer(session, participant)
        try:
            answer = await peer.answer(sdp)
        except Exception as exc:  # aiortc raises assorted errors (even AssertionError) on bad SDP
            session.peer = None
            await peer.close()
            raise SignalingError("bad-sdp", f"could not apply the offer: {type(exc).__name__}: {exc}"[:300]) from None
        await session.send({"type": "answer", "sdp": answer})

    def _make_peer(self, session: Session, participant: Participant) -> PeerConnection:
        peer = PeerConnection(self.ice, self.metrics,
                              on_audio=lambda packet: self.relay(participant, packet),
                              on_control=lambda message: self._control(participant, message))

        def state_changed() -> None:
            state = peer.pc.connectionState
            if state == "connected":
                session.disarm()  # the connect timer
            elif state in ("failed", "closed") and session.peer is peer and session.ended is None:
                self.metrics.sessions_closed.labels("media-" + state).inc()
                self._spawn(session.end("media-" + state, error_message(
                    "media-failed", "the media connection was lost; join again")))

        peer.pc.on("connectionstatechange", state_changed)
        return peer

    # ---------------------------------------------------------------------- relay
    def relay(self, sender: Participant, packet: bytes) -> None:
        """Send ``packet`` from ``sender`` to everyone else in the room, unchanged, within the
        sender's rate budget. The relay reads the header only (``relay_header``); receivers
        parse the rest. ``relay_check="full"`` parses every packet whole (the old path,
        kept so bench/load.py can compare)."""
        started = time.perf_counter()
        try:
            if self._full_parse:
                header = parse_sealed_header(packet) if is_sealed(packet) else parse_packet(packet)
                payload_type, seq, sender_id = header.payload_type, header.seq, header.sender
            else:
                payload_type, seq, sender_id = relay_header(packet)
        except PacketError:
            self.metrics.malformed_packets.labels("parse").inc()
            return
        if sender_id != sender.id:
            self.metrics.malformed_packets.labels("sender").inc()
            return
        if not sender.can_publish:
            self.metrics.malformed_packets.labels("not-allowed").inc()
            return
        session: Session = sender.endpoint
        now = asyncio.get_running_loop().time()
        state = session.sender
        if state is None:
            state = session.sender = SenderState(self.limits.relay_headroom, now)
        if state.payload_type != payload_type:
            self._codec_changed(sender, state, payload_type, now)
        if self._facts.get(payload_type, False) is None:
            self.metrics.malformed_packets.labels("payload-type").inc()  # no codec: nobody could play it
            return
        size = len(packet)
        if state.admit(size, now) is not None:
            self.metrics.packets_capped.inc()
            self.metrics.bytes_capped.inc(size)
            return
        seq = state.observe_seq(seq)
        metrics = self.metrics
        metrics.observe_payload_type(sender, payload_type)
        metrics.packets_in.inc()
        metrics.bytes_in.inc(size)
        if is_keepalive(packet):
            metrics.keepalives_in.inc()
        receivers = state.receivers
        for other in sender.room.participants.values():
            if other is sender:
                continue
            peer = other.endpoint.peer
            if other.can_subscribe and peer is not None and peer.send_audio(packet):
                metrics.packets_relayed.inc()
                metrics.bytes_relayed.inc(size)
                if other not in receivers:
                    receivers[other] = (now, seq)
            else:
                metrics.packets_not_relayed.inc()
        metrics.relay_seconds.observe(time.perf_counter() - started)

    def _codec_changed(self, sender: Participant, state: SenderState, pt: int, now: float) -> None:
        """A sender's (first or new) payload type: its budget and codec delay follow once the
        codec is known (looked up off the event loop: a neural codec loads its model)."""
        facts = self._facts.get(pt)
        state.set_codec(pt, facts, now)
        if facts is not None:
            self.metrics.set_sender_codec(sender, payload_type_label(pt), facts.delay_s)
        elif pt not in self._facts and pt not in self._facts_lookups:
            self._facts_lookups.add(pt)
            future = asyncio.get_running_loop().run_in_executor(None, codec_facts, pt)
            future.add_done_callback(lambda f: self._codec_found(pt, f))

    def _codec_found(self, pt: int, future: asyncio.Future) -> None:
        """Apply a looked-up codec to every sender using its payload type."""
        self._facts_lookups.discard(pt)
        if future.exception() is not None:  # no codec claims it: the provisional budget stays
            logger.info("no codec for payload type %d: %s", pt, future.exception())
            self._facts[pt] = None
            return
        facts = self._facts[pt] = future.result()
        now = asyncio.get_running_loop().time()
        for session in self._sessions:
            state, participant = session.sender, session.participant
            if state is not None and participant is not None and state.payload_type == pt:
                state.set_codec(pt, facts, now)
                self.metrics.set_sender_codec(participant, payload_type_label(pt), facts.delay_s)

    def _control(self, participant: Participant, message: str | bytes) -> None:
        """Control-channel messages are receiver reports (binary or JSON): believable ones feed
        the metrics and go on, in binary, to the sender they describe."""
        try:
            report = report_from_message(message)
        except ValueError as exc:
            self.metrics.malformed_packets.labels("control").inc()
            logger.debug("bad control message from %d: %s", participant.id, exc)
            return
        sender = participant.room.participants.get(report.sender)
        if sender is None or sender is participant or sender.endpoint.sender is None:
            self.metrics.reports_rejected.labels("not-receiving").inc()
            return
        reason = self.reports.check(participant, sender, sender.endpoint.sender, report,
                                    asyncio.get_running_loop().time())
        if reason is not None:
            self.metrics.reports_rejected.labels(reason).inc()
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

    # ------------------------------------------------------------- leave, drain
    async def _leave(self, session: Session) -> None:
        """Remove the session's participant and close its peer (idempotent)."""
        peer, session.peer = session.peer, None
        if peer is not None:
            await peer.close()
        participant, session.participant = session.participant, None
        if participant is None:
            return
        room = participant.room
        self.rooms.leave(participant)
        self.metrics.forget(participant)
        self.reports.forget(participant)
        for other in room.others(participant):
            if other.endpoint.sender is not None:
                other.endpoint.sender.receivers.pop(participant, None)
        self._update_gauges()
        for other in room.others(participant):
            await other.endpoint.send({"type": "peer-left", "id": participant.id})
        logger.info("%s left %s", participant.name, room.name)

    async def drain(self, seconds: float) -> None:
        """Stop accepting sockets, tell every participant the server is going away, give them
        ``seconds`` to leave (a client reconnects elsewhere, or here after a restart), then
        close the rest. Idempotent."""
        self.draining = True
        self.metrics.draining.set(1)
        message = {"type": "draining", "message": "the server is shutting down; reconnect in a moment"}
        await asyncio.gather(*(s.send(message) for s in list(self._sessions)), return_exceptions=True)
        deadline = asyncio.get_running_loop().time() + seconds
        while self._sessions and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        for session in list(self._sessions):
            self.metrics.sessions_closed.labels("drain").inc()
        await asyncio.gather(*(s.end("drain", code=CLOSE_GOING_AWAY) for s in list(self._sessions)),
                             return_exceptions=True)
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _update_gauges(self) -> None:
        self.metrics.rooms.set(self.rooms.room_count)
        self.metrics.participants.set(self.rooms.participant_count)

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

