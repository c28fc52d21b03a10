"""A Python participant in a call: signaling, one WebRTC connection, send and receive audio.

A :class:`Call` outlives its connections: when the signaling socket or the media connection
drops (or the server says it is shutting down) it reconnects on its own, with backoff, to the
same room under the same name and token, and keeps sending and playing out. What was heard
on an earlier connection is kept (the streams are retired, not lost). It gives up, with a
reason, when reconnecting fails for ``ReconnectPolicy.give_up_after_s`` or the server refuses
for good (a bad token, another connection joined as us).
"""
from __future__ import annotations

import asyncio
import logging
import math
import queue
import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np
from aiortc import RTCDataChannel, RTCPeerConnection

from client.connection import open_connection
from client.remote import Playout, RemoteStream
from client.signaling import FATAL_CODES, HEARTBEAT_S, SignalingClient, SignalingFailed
from client.sources import AudioSource
from codec.base import Codec
from codec.payload_types import UnknownPayloadType, decoder_codec_name, payload_type
from codec.registry import get_codec, is_built
from codec.vad import Vad
from rtc.ice import IceServer, IceSettings
from transport import DtxConfig, PacketError, Packetizer, PacketizerConfig, parse_packet, parse_report
from transport.packetsize import PacketSizer, SizeConfig, follow_report, most_frames
from transport.e2ee import E2eeError, Keyring, Opener, Sealer, is_sealed
from transport.packet import MAX_PRIMARY, SEQ_MOD, TS_MOD, VERSION, VERSION_3, max_primary
from transport.wire import wire_bytes

logger = logging.getLogger(__name__)

IDLE_TICK = 0.02       # how often the playout loop looks for new streams, seconds
REPORT_INTERVAL = 1.0  # receiver reports per stream, seconds
QUIET_RMS = 10 ** (-50 / 20)  # below -50 dBFS a frame is "quiet": the receiver may drop it
# The final packet has no successor to carry its frames' redundant copies: it is sent again this
# many times, this far apart, so a loss at the very end of the input is still repaired.
FINAL_REPEATS = 3
FINAL_REPEAT_GAP_S = 0.04
ATTEMPT_TIMEOUT_S = 20.0  # one reconnection attempt: socket, join, offer, media connection
PEER_EVENTS = ("peer-joined", "peer-left")


@dataclass
class SendStats:
    """What this participant sent."""

    frames: int = 0
    packets: int = 0
    repeats: int = 0  # extra copies of the final packet
    payload_bytes: int = 0
    wire_bytes: int = 0     # our packets' bytes (headers, redundancy, parity)
    ip_bytes: int = 0       # the same as IPv4 packets on the data channel (transport.wire)
    seconds: float = 0.0
    frames_unsent: int = 0  # encoded while there was no connection
    frames_held: int = 0    # DTX: frames not sent because this participant was silent
    keepalives: int = 0     # DTX keep-alive packets

    @property
    def dtx_share(self) -> float:
        """Share of the time this stream was in DTX (a pause: keep-alives, no frames)."""
        return self.frames_held / max(1, self.frames)


@dataclass
class CallStats:
    """Counters for the end-of-call summary."""

    sent: SendStats = field(default_factory=SendStats)
    malformed: int = 0
    dropped: Counter[str] = field(default_factory=Counter)  # E2EE: undecryptable, replayed, unencrypted, ...
    reports_received: int = 0
    redundancy: int | None = None  # the sender's redundancy (frames) after the last report
    frames_per_packet: int | None = None  # the sender's packet size (frames) after the last report
    reconnects: int = 0


@dataclass(frozen=True)
class SendOptions:
    """How this participant packs its frames (see transport.PacketizerConfig);
    ``redundancy=None`` picks :func:`default_redundancy` for the codec; ``dtx``: stop sending
    in pauses (keep-alives; needs packet version 3, so not with end-to-end encryption).
    ``frames_per_packet`` is the size on a calm link; more go in a packet under ``max_bitrate``
    (bit/s on the wire, every header and the SACKs back counted), a receiver's cap or an
    overloaded link (transport.packetsize); ``start_frames`` (more than ``frames_per_packet``)
    starts there and steps down on calm reports (a slow start). ``max_receive_bitrate`` is the
    cap this participant asks each sender it hears for, in its receiver reports."""

    frames_per_packet: int = 2
    redundancy: int | None = None
    parity_packets: int = 0
    dtx: bool = True
    max_bitrate: float | None = None
    max_receive_bitrate: float | None = None
    start_frames: int | None = None


@dataclass(frozen=True)
class ReconnectPolicy:
    """Delays between attempts double from ``first_delay_s`` up to ``max_delay_s`` (each
    spread by ±``jitter``, so a restarted server is not hit by everyone at once); after
    ``give_up_after_s`` without a connection the call fails."""

    first_delay_s: float = 0.2
    max_delay_s: float = 1.5
    give_up_after_s: float = 60.0
    jitter: float = 0.2

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt`` (1, 2, …)."""
        base = min(self.max_delay_s, self.first_delay_s * 2 ** (attempt - 1))
        return base * (1 + self.jitter * (2 * random.random() - 1))


def default_redundancy(codec: Codec) -> int:
    """Redundant frames per packet: 160 ms of history for low-rate codecs, where a frame
    costs a few bytes; 40 ms for Opus-class rates, where copies would multiply the bitrate."""
    span = 0.160 if codec.bitrate <= 3200 else 0.040
    return min(15, math.ceil(span * 1000 / codec.frame_ms - 1e-9))


class Call:
    """Join a room, then :meth:`send` a source and play out what the others send.

    Encoding runs on a worker thread via ``run_in_executor`` and decoding on a decode
    thread, so codec work never blocks the event loop. :meth:`stop` is idempotent.
    ``on_state(state, detail)`` hears ``connected``, ``reconnecting`` and ``failed``, and
    ``hearing`` when a sender's playout starts; :attr:`failed` is set when the call gives up
    (:attr:`failure` says why).
    """

    def __init__(self, server_url: str, room: str, name: str, codec: Codec,
                 ice: IceSettings | None = None, send_options: SendOptions | None = None,
                 on_frame: Callable[[int, np.ndarray], None] | None = None, token: str | None = None,
                 keyring: Keyring | None = None, reconnect: ReconnectPolicy | None = ReconnectPolicy(),
                 on_state: Callable[[str, str], None] | None = None, heartbeat_s: float = HEARTBEAT_S) -> None:
        self.server_url, self.room, self.name, self.codec = server_url, room, name, codec
        self.payload_type = payload_type(codec.name)
        self.ice = ice or IceSettings()
        self.send_options = send_options or SendOptions()
        self.token, self.keyring, self.reconnect = token, keyring, reconnect
        self.heartbeat_s = heartbeat_s  # signaling ping period; no pong within half of it: the connection is lost
        # Sealed packets wrap version 1 (transport/README.md): no DTX, at most 4 frames a packet.
        self.packet_version = VERSION if keyring is not None else VERSION_3
        if keyring is not None and self.send_options.frames_per_packet > MAX_PRIMARY:
            raise ValueError(f"end-to-end encryption allows at most {MAX_PRIMARY} frames per packet")
        o = self.send_options
        self._sizer = PacketSizer(SizeConfig(
            frame_ms=codec.frame_ms, base=o.frames_per_packet, max_bitrate=o.max_bitrate, start=o.start_frames,
            most=max(o.frames_per_packet, most_frames(codec.frame_ms, max_primary(self.packet_version)))))
        cap = o.max_receive_bitrate
        self._report_cap = 0 if cap is None else max(1, min(255, int(cap // 1000)))
        self.stats = CallStats()
        self.id: int | None = None
        self.name_given: str | None = None  # the name the others see (the server may number it)
        self.names: dict[int, str] = {}
        self.streams: dict[int, RemoteStream] = {}
        self.state = "idle"
        self.failure: str | None = None
        self.failed = asyncio.Event()
        self._on_state = on_state
        self._on_frame = on_frame
        self._retired: list[RemoteStream] = []  # streams of participants who left, or of earlier connections
        self._heard: set[RemoteStream] = set()  # streams whose playout has started
        self._codecs_ready: set[int] = set()    # payload types whose decoder is loaded
        self._codecs_loading: set[int] = set()
        self._signaling: SignalingClient | None = None
        self._joining: SignalingClient | None = None  # joined, media not connected yet
        self._pc: RTCPeerConnection | None = None
        self._audio: RTCDataChannel | None = None
        self._control: RTCDataChannel | None = None
        self._lost = asyncio.Event()
        self._lost_reason = ""
        self._lost_fatal = False
        self._packetizer: Packetizer | None = None
        self._sealer = Sealer(keyring) if keyring is not None else None
        self._opener = Opener(keyring) if keyring is not None else None
        self._last_packet: bytes | None = None  # as sent (sealed when E2EE is on)
        self._last_plain: bytes | None = None
        self._tasks: list[asyncio.Task] = []
        self._encode_pool = ThreadPoolExecutor(1, thread_name_prefix="encode")
        self._decode_queue: queue.Queue[tuple[RemoteStream, Playout] | None] = queue.Queue()
        self._decode_thread = threading.Thread(target=self._decode_loop, name="decode", daemon=True)
        self._stopped = False

    # ------------------------------------------------------------ connections
    async def start(self) -> None:
        """Connect, join the room and wait until the audio channel is open. The first
        connection is retried only when the server says the refusal is passing ("reconnect
        shortly"); a wrong URL or token fails at once."""
        self.ice.apply()
        self._decode_thread.start()
        await self._first_connect()
        self._tasks = [asyncio.create_task(self._playout_loop()), asyncio.create_task(self._report_loop())]
        if self.reconnect is not None:
            self._tasks.append(asyncio.create_task(self._supervise()))

    async def _connect(self) -> None:
        """One connection: socket, join, offer, media. On success it becomes the current one."""
        signaling = SignalingClient(self.server_url, lambda event: self._room_event(signaling, event),
                                    self.heartbeat_s)
        await signaling.connect()
        try:
            joined = await signaling.join(self.room, self.name, self.token)
            self._joining = signaling  # its room events count from now on
            self.names = {p["id"]: p["name"] for p in joined["participants"]}
            connection = await open_connection(signaling, self._ice_for(joined), self._audio_message,
                                               self._control_message)
        except BaseException:
            await signaling.close()
            raise
        finally:
            self._joining = None
        self._retire_all()
        self._signaling, self._pc = signaling, connection.pc
        self._audio, self._control = connection.audio, connection.control
        self.id, self.name_given = joined["id"], joined.get("name", self.name)
        self._lost.clear()
        pc = connection.pc
        pc.on("connectionstatechange", lambda: self._connection_state(pc))
        self._rebind_sender()
        self._set_state("connected", f"in room {self.room!r} as {self.name_given} (id {self.id})")

    async def _first_connect(self) -> None:
        """:meth:`_connect`, retried with the reconnection backoff (within its give-up time)
        while the server answers that it cannot take us yet but will shortly."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.reconnect.give_up_after_s if self.reconnect else 0.0)
        attempt = 0
        while True:
            try:
                await self._connect()
                return
            except SignalingFailed as exc:
                if not exc.passing or self.reconnect is None or loop.time() >= deadline:
                    raise
                attempt += 1
                delay = self.reconnect.delay(attempt)
                self._set_state("reconnecting", f"{exc}; attempt {attempt} in {delay:.1f} s")
                await asyncio.sleep(delay)

    def _ice_for(self, joined: dict[str, Any]) -> IceSettings:
        """Our ICE settings plus the servers (and short-lived TURN credentials) the server gave."""
        servers = list(self.ice.servers)
        for entry in joined.get("iceServers", []):
            try:
                urls = entry["urls"] if isinstance(entry["urls"], list) else [entry["urls"]]
                servers.append(IceServer(tuple(urls), entry.get("username"), entry.get("credential")))
            except (KeyError, TypeError, ValueError) as exc:
                logger.warning("ignoring an ICE server the server sent: %s", exc)
        return replace(self.ice, servers=tuple(servers))

    async def _supervise(self) -> None:
        """Reconnect whenever the current connection is lost, until it works or we give up."""
        assert self.reconnect is not None
        loop = asyncio.get_running_loop()
        while True:
            await self._lost.wait()
            reason = self._lost_reason
            await self._close_connection()
            if self._lost_fatal:
                self._fail(reason)
                return
            deadline, attempt = loop.time() + self.reconnect.give_up_after_s, 0
            while True:
                attempt += 1
                delay = self.reconnect.delay(attempt)
                self._set_state("reconnecting", f"{reason}; attempt {attempt} in {delay:.1f} s")
                await asyncio.sleep(delay)
                try:
                    await asyncio.wait_for(self._connect(), ATTEMPT_TIMEOUT_S)
                    self.stats.reconnects += 1
                    break
                except (SignalingFailed, asyncio.TimeoutError) as exc:
                    reason = str(exc) or "no connection within the attempt's time"
                    if isinstance(exc, SignalingFailed) and exc.fatal:
                        self._fail(reason)
                        return
                if loop.time() >= deadline:
                    self._fail(f"gave up reconnecting after {self.reconnect.give_up_after_s:g} s ({reason})")
                    return

    def _connection_lost(self, reason: str, fatal: bool = False) -> None:
        if not self._lost.is_set() and not self._stopped:
            self._lost_reason, self._lost_fatal = reason, fatal
            self._audio = self._control = None  # nothing is sent until the next connection
            self._lost.set()
            if self.reconnect is None:
                self._fail(reason)

    async def _close_connection(self) -> None:
        pc, signaling = self._pc, self._signaling
        self._pc = self._signaling = None
        self._audio = self._control = None
        if pc is not None:
            await pc.close()
        if signaling is not None:
            await signaling.close()

    def _fail(self, reason: str) -> None:
        self.failure = reason
        self._set_state("failed", reason)
        self.failed.set()

    def _set_state(self, state: str, detail: str) -> None:
        if state != "hearing":
            self.state = state
        logger.info("%s: %s", state, detail)
        if self._on_state is not None:
            self._on_state(state, detail)

    def _retire_all(self) -> None:
        """A new connection: the old sender ids mean nothing any more."""
        self._retired.extend(self.streams[k] for k in sorted(self.streams))
        self.streams = {}

    # ---------------------------------------------------------------- sending
    async def send(self, source: AudioSource) -> None:
        """Encode every frame of ``source`` and send it in packets, paced in real time. While
        reconnecting, frames are encoded (the codec state runs on) but not sent."""
        assert self.id is not None, "start() first"
        loop = asyncio.get_running_loop()
        encoder = self.codec.encoder()
        vad = Vad()
        self._packetizer = self._new_packetizer(0, 0)
        period = self.codec.frame_samples / self.codec.sample_rate
        t0 = loop.time()
        async for frame in source.frames():
            if not source.realtime:  # a file: wait for the frame's due time
                await asyncio.sleep(max(0.0, t0 + self.stats.sent.frames * period - loop.time()))
            if self.failed.is_set():
                return
            payload = await loop.run_in_executor(self._encode_pool, encoder.encode, frame)
            quiet = float(np.sqrt(np.mean(np.square(frame)))) < QUIET_RMS
            pk, sent = self._packetizer, self.stats.sent
            keepalives = pk.keepalives
            self._send_packets(pk.push(payload, quiet=quiet, speech=vad.update(frame),
                                       level=vad.background_level))
            sent.frames_held += pk.in_dtx
            sent.keepalives += pk.keepalives - keepalives
            self.stats.sent.frames += 1
            self.stats.sent.payload_bytes += len(payload)
            self.stats.sent.seconds += period
        if self._send_packets(self._packetizer.flush()):
            await self._repeat_final_packet()

    def _new_packetizer(self, first_seq: int, first_timestamp: int) -> Packetizer:
        o = self.send_options
        assert self.id is not None
        packetizer = Packetizer(PacketizerConfig(
            payload_type=self.payload_type, sender=self.id, frames_per_packet=o.frames_per_packet,
            redundancy=default_redundancy(self.codec) if o.redundancy is None else o.redundancy,
            parity_packets=o.parity_packets, first_seq=first_seq, first_timestamp=first_timestamp,
            version=self.packet_version,
            dtx=DtxConfig() if o.dtx and self.packet_version == VERSION_3 else None))
        frame_bytes = self.codec.bitrate * self.codec.frame_ms / 8000  # until frames are seen
        packetizer.frames_per_packet, packetizer.redundancy = self._sizer.plan(frame_bytes, packetizer.redundancy)
        return packetizer

    def _rebind_sender(self) -> None:
        """After a reconnect the server may give us another sender id: packets go on from the
        sequence number and timestamp after the last one sent."""
        if self._packetizer is None or self._packetizer.config.sender == self.id:
            return
        seq = ts = 0
        if self._last_plain is not None:
            last = parse_packet(self._last_plain)
            seq, ts = (last.seq + 1) % SEQ_MOD, (last.timestamp + len(last.frames)) % TS_MOD
        self._packetizer = self._new_packetizer(seq, ts)

    async def _repeat_final_packet(self) -> None:
        """Send the last packet again (:data:`FINAL_REPEATS` times): the receiver keeps one copy."""
        for _ in range(FINAL_REPEATS):
            await asyncio.sleep(FINAL_REPEAT_GAP_S)
            if self._last_packet is None or self._audio is None or self._audio.readyState != "open":
                return
            self._audio.send(self._last_packet)
            self.stats.sent.repeats += 1
            self.stats.sent.wire_bytes += len(self._last_packet)
            self.stats.sent.ip_bytes += wire_bytes(len(self._last_packet))

    def _send_packets(self, packets: list[bytes]) -> bool:
        """Send packets if the audio channel is open (sealed when E2EE is on); False if not."""
        if self._audio is None or self._audio.readyState != "open":
            self.stats.sent.frames_unsent += sum(len(parse_packet(p).frames) for p in packets)
            return False
        for packet in packets:
            self._last_plain = packet
            if self._sealer is not None:
                packet = self._sealer.seal(packet)
            self._audio.send(packet)
            self._last_packet = packet
            self.stats.sent.packets += 1
            self.stats.sent.wire_bytes += len(packet)
            self.stats.sent.ip_bytes += wire_bytes(len(packet))
        return True

    # -------------------------------------------------------------- receiving
    async def stop(self) -> None:
        """Leave the call and finish decoding what was played; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._close_connection()
        if self._decode_thread.is_alive():
            self._decode_queue.put(None)
            await asyncio.get_running_loop().run_in_executor(None, self._decode_thread.join)
        self._encode_pool.shutdown(wait=True)

    def received(self) -> list[RemoteStream]:
        """Every stream heard so far, in id order (complete once :meth:`stop` returned)."""
        return self._retired + [self.streams[k] for k in sorted(self.streams)]

    def _audio_message(self, message: str | bytes) -> None:
        """The one place incoming audio is opened and parsed: anything malformed, undecryptable
        or replayed is counted and dropped."""
        arrival = asyncio.get_running_loop().time()
        try:
            if isinstance(message, str):
                raise PacketError("text message on the audio channel")
            if self._opener is not None:
                message = self._opener.open(message)
            elif is_sealed(message):
                raise E2eeError("sealed-no-key", "an end-to-end encrypted packet, and no room key")
            packet = parse_packet(message)
            stream = self.streams.get(packet.sender)
            if stream is None and not self._codec_ready(packet.payload_type):
                self.stats.dropped["codec-loading"] += 1
                return
            if stream is None:
                name = self.names.get(packet.sender, f"participant-{packet.sender}")
                stream = self.streams[packet.sender] = RemoteStream(packet.sender, name, packet)
            elif packet.payload_type != stream.payload_type:
                raise PacketError(f"sender {packet.sender} switched payload type mid-stream")
            stream.push(packet, arrival)
        except E2eeError as exc:
            self.stats.dropped[exc.reason] += 1
            logger.debug("dropped audio packet: %s", exc)
        except (PacketError, UnknownPayloadType) as exc:
            self.stats.malformed += 1
            logger.debug("dropped audio packet: %s", exc)

    def _codec_ready(self, pt: int) -> bool:
        """Whether payload type ``pt``'s decoder is loaded; if not, load it off the event loop (a
        neural model takes a while, and a stalled loop misses the server's heartbeat)."""
        name = decoder_codec_name(pt)  # UnknownPayloadType: a malformed packet
        if pt in self._codecs_ready or is_built(name):
            return True
        if pt not in self._codecs_loading:
            self._codecs_loading.add(pt)

            def loaded(future: asyncio.Future) -> None:
                if future.exception() is None:
                    self._codecs_ready.add(pt)
                else:  # stays "loading": its packets are dropped, not retried
                    logger.warning("cannot load the decoder of payload type %d: %s", pt, future.exception())

            asyncio.get_running_loop().run_in_executor(None, get_codec, name).add_done_callback(loaded)
        return False

    def _control_message(self, message: str | bytes) -> None:
        """Receiver reports about our stream, forwarded by the server: adapt redundancy."""
        if not isinstance(message, bytes):
            return
        try:
            report = parse_report(message)
        except PacketError as exc:
            self.stats.dropped["malformed-report"] += 1
            logger.debug("dropped control message: %s", exc)
            return
        if report.sender == self.id and self._packetizer is not None:
            pk, receivers = self._packetizer, max(1, len(self.names))
            self.stats.reports_received += 1
            before = pk.frames_per_packet, pk.redundancy
            follow_report(self._sizer, pk, report, self.codec.bitrate * self.codec.frame_ms / 8000, receivers)
            queue = "" if report.queue_delay_ms is None else \
                f", queue {report.queue_delay_ms:.0f} ms ({report.delay_trend:+.0f} ms/s)"
            cap = self._sizer.cap_bps
            logger.log(logging.INFO if (pk.frames_per_packet, pk.redundancy) != before else logging.DEBUG,
                       "report: %.0f%% lost, bursts of %d%s; now %d frames a packet, %d redundant%s",
                       100 * report.loss_fraction, report.max_burst, queue, pk.frames_per_packet, pk.redundancy,
                       f" (cap {cap / 1000:.1f} kbit/s)" if cap else "")
            self.stats.redundancy, self.stats.frames_per_packet = pk.redundancy, pk.frames_per_packet

    async def _playout_loop(self) -> None:
        """One playout decision per sender per frame period, decoded on the decode thread."""
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            for stream in list(self.streams.values()):
                for playout in stream.due(now):
                    self._decode_queue.put((stream, playout))
                if stream.playout_start is not None and stream not in self._heard:
                    self._heard.add(stream)
                    self._set_state("hearing", f"{stream.name} (id {stream.sender_id})")
            dues = [s.next_due for s in self.streams.values() if s.next_due is not None]
            await asyncio.sleep(max(0.0, min(dues, default=now + IDLE_TICK) - loop.time()))

    async def _report_loop(self) -> None:
        while True:
            await asyncio.sleep(REPORT_INTERVAL)
            if self._control is None or self._control.readyState != "open":
                continue
            for sender, stream in list(self.streams.items()):
                if not stream.idle:
                    report = replace(stream.buffer.report(sender), max_kbps=self._report_cap)
                    self._control.send(report.to_bytes())

    def _decode_loop(self) -> None:
        while (item := self._decode_queue.get()) is not None:
            stream, playout = item
            pcm = stream.decode(playout)
            if self._on_frame is not None:
                self._on_frame(stream.sender_id, pcm)

    def _room_event(self, signaling: SignalingClient, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if signaling is not self._signaling and (signaling is not self._joining or kind not in PEER_EVENTS):
            return  # a connection we already left (a failure while joining raises in _connect)
        if kind == "peer-joined" and isinstance(event.get("id"), int) and isinstance(event.get("name"), str):
            self.names[event["id"]] = event["name"]
            logger.info("%s joined", event["name"])
        elif kind == "peer-left" and isinstance(event.get("id"), int):
            logger.info("%s left", self.names.pop(event["id"], event["id"]))
            stream = self.streams.pop(event["id"], None)  # its id may be given to a newcomer
            if stream is not None:
                self._retired.append(stream)
        elif kind == "error":
            code = event.get("code")
            self._connection_lost(f"the server ended the session: {event.get('message')}",
                                  fatal=code in FATAL_CODES)
        elif kind == "draining":
            self._connection_lost("the server is shutting down")
        elif kind == "disconnected":
            self._connection_lost(str(event.get("reason") or "the connection to the server was lost"))

    def _connection_state(self, pc: RTCPeerConnection) -> None:
        if pc is not self._pc:
            return
        logger.info("connection %s", pc.connectionState)
        if pc.connectionState in ("failed", "closed"):
            self._connection_lost(f"the media connection {pc.connectionState}")
