"""A Python participant in a call: signaling, one WebRTC connection, send and receive audio."""
from __future__ import annotations

import asyncio
import logging
import math
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from aiortc import RTCDataChannel, RTCPeerConnection

from client.connection import open_connection
from client.remote import Playout, RemoteStream
from client.signaling import SignalingClient
from client.sources import AudioSource
from codec.base import Codec
from codec.payload_types import UnknownPayloadType, payload_type
from focalcall.ice import IceSettings
from transport import PacketError, Packetizer, PacketizerConfig, parse_packet, parse_report

logger = logging.getLogger(__name__)

IDLE_TICK = 0.02       # how often the playout loop looks for new streams, seconds
REPORT_INTERVAL = 1.0  # receiver reports per stream, seconds
QUIET_RMS = 10 ** (-50 / 20)  # below -50 dBFS a frame is "quiet": the receiver may drop it
# The final packet has no successor to carry its frames' redundant copies: it is sent again this
# many times, this far apart, so a loss at the very end of the input is still repaired.
FINAL_REPEATS = 3
FINAL_REPEAT_GAP_S = 0.04


@dataclass
class SendStats:
    """What this participant sent."""

    frames: int = 0
    packets: int = 0
    repeats: int = 0  # extra copies of the final packet
    payload_bytes: int = 0
    wire_bytes: int = 0
    seconds: float = 0.0


@dataclass
class CallStats:
    """Counters for the end-of-call summary."""

    sent: SendStats = field(default_factory=SendStats)
    malformed: int = 0
    reports_received: int = 0
    redundancy: int | None = None  # the sender's redundancy (frames) after the last report


@dataclass(frozen=True)
class SendOptions:
    """How this participant packs its frames (see transport.PacketizerConfig);
    ``redundancy=None`` picks :func:`default_redundancy` for the codec."""

    frames_per_packet: int = 2
    redundancy: int | None = None
    parity_packets: int = 0


def default_redundancy(codec: Codec) -> int:
    """Redundant frames per packet: 160 ms of history for low-rate codecs, where a frame
    costs a few bytes; 40 ms for Opus-class rates, where copies would multiply the bitrate."""
    span = 0.160 if codec.bitrate <= 3200 else 0.040
    return min(15, math.ceil(span * 1000 / codec.frame_ms - 1e-9))


class Call:
    """Join a room, then :meth:`send` a source and play out what the others send.

    Encoding runs on a worker thread via ``run_in_executor`` and decoding on a decode
    thread, so codec work never blocks the event loop. :meth:`stop` is idempotent.
    """

    def __init__(self, server_url: str, room: str, name: str, codec: Codec,
                 ice: IceSettings | None = None, send_options: SendOptions | None = None,
                 on_frame: Callable[[int, np.ndarray], None] | None = None) -> None:
        self.room, self.name, self.codec = room, name, codec
        self.payload_type = payload_type(codec.name)
        self.ice = ice or IceSettings()
        self.send_options = send_options or SendOptions()
        self.stats = CallStats()
        self.id: int | None = None
        self.names: dict[int, str] = {}
        self.streams: dict[int, RemoteStream] = {}
        self._retired: list[RemoteStream] = []  # streams of participants who left
        self.disconnected = asyncio.Event()
        self._on_frame = on_frame
        self._signaling = SignalingClient(server_url, self._room_event)
        self._pc: RTCPeerConnection | None = None
        self._audio: RTCDataChannel | None = None
        self._control: RTCDataChannel | None = None
        self._packetizer: Packetizer | None = None
        self._last_packet: bytes | None = None
        self._tasks: list[asyncio.Task] = []
        self._encode_pool = ThreadPoolExecutor(1, thread_name_prefix="encode")
        self._decode_queue: queue.Queue[tuple[RemoteStream, Playout] | None] = queue.Queue()
        self._decode_thread = threading.Thread(target=self._decode_loop, name="decode", daemon=True)
        self._stopped = False

    async def start(self) -> None:
        """Connect, join the room and wait until the audio channel is open."""
        self.ice.apply()
        self._decode_thread.start()
        await self._signaling.connect()
        joined = await self._signaling.join(self.room, self.name)
        self.id = joined["id"]
        self.names.update({p["id"]: p["name"] for p in joined["participants"]})
        connection = await open_connection(self._signaling, self.ice, self._audio_message,
                                           self._control_message)
        self._pc, self._audio, self._control = connection.pc, connection.audio, connection.control
        self._pc.on("connectionstatechange", self._connection_state)
        self._tasks = [asyncio.create_task(self._playout_loop()), asyncio.create_task(self._report_loop())]

    async def send(self, source: AudioSource) -> None:
        """Encode every frame of ``source`` and send it in packets, paced in real time."""
        assert self._audio is not None and self.id is not None, "start() first"
        loop = asyncio.get_running_loop()
        encoder = self.codec.encoder()
        o = self.send_options
        self._packetizer = Packetizer(PacketizerConfig(
            payload_type=self.payload_type, sender=self.id, frames_per_packet=o.frames_per_packet,
            redundancy=default_redundancy(self.codec) if o.redundancy is None else o.redundancy,
            parity_packets=o.parity_packets))
        period = self.codec.frame_samples / self.codec.sample_rate
        t0 = loop.time()
        async for frame in source.frames():
            if not source.realtime:  # a file: wait for the frame's due time
                await asyncio.sleep(max(0.0, t0 + self.stats.sent.frames * period - loop.time()))
            payload = await loop.run_in_executor(self._encode_pool, encoder.encode, frame)
            quiet = float(np.sqrt(np.mean(np.square(frame)))) < QUIET_RMS
            if not self._send_packets(self._packetizer.push(payload, quiet=quiet)):
                return
            self.stats.sent.frames += 1
            self.stats.sent.payload_bytes += len(payload)
            self.stats.sent.seconds += period
        if self._send_packets(self._packetizer.flush()):
            await self._repeat_final_packet()

    async def _repeat_final_packet(self) -> None:
        """Send the last packet again (:data:`FINAL_REPEATS` times): the receiver keeps one copy."""
        for _ in range(FINAL_REPEATS):
            await asyncio.sleep(FINAL_REPEAT_GAP_S)
            if self._last_packet is None or self._audio is None or self._audio.readyState != "open":
                return
            self._audio.send(self._last_packet)
            self.stats.sent.repeats += 1
            self.stats.sent.wire_bytes += len(self._last_packet)

    async def stop(self) -> None:
        """Leave the call and finish decoding what was played; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._pc is not None:
            await self._pc.close()
        await self._signaling.close()
        if self._decode_thread.is_alive():
            self._decode_queue.put(None)
            await asyncio.get_running_loop().run_in_executor(None, self._decode_thread.join)
        self._encode_pool.shutdown(wait=True)

    def received(self) -> list[RemoteStream]:
        """Every stream heard so far, in id order (complete once :meth:`stop` returned)."""
        return self._retired + [self.streams[k] for k in sorted(self.streams)]

    def _send_packets(self, packets: list[bytes]) -> bool:
        if self._audio is None or self._audio.readyState != "open":
            return False
        for packet in packets:
            self._audio.send(packet)
            self._last_packet = packet
            self.stats.sent.packets += 1
            self.stats.sent.wire_bytes += len(packet)
        return True

    def _audio_message(self, message: str | bytes) -> None:
        """The one place incoming audio is parsed: anything malformed is counted and dropped."""
        arrival = asyncio.get_running_loop().time()
        try:
            if isinstance(message, str):
                raise PacketError("text message on the audio channel")
            packet = parse_packet(message)
            stream = self.streams.get(packet.sender)
            if stream is None:
                name = self.names.get(packet.sender, f"participant-{packet.sender}")
                stream = self.streams[packet.sender] = RemoteStream(packet.sender, name, packet)
            elif packet.payload_type != stream.payload_type:
                raise PacketError(f"sender {packet.sender} switched payload type mid-stream")
            stream.push(packet, arrival)
        except (PacketError, UnknownPayloadType) as exc:
            self.stats.malformed += 1
            logger.debug("dropped audio packet: %s", exc)

    def _control_message(self, message: str | bytes) -> None:
        """Receiver reports about our stream, forwarded by the server: adapt redundancy."""
        if not isinstance(message, bytes):
            return
        try:
            report = parse_report(message)
        except PacketError as exc:
            logger.debug("ignoring control message: %s", exc)
            return
        if report.sender == self.id and self._packetizer is not None:
            self.stats.reports_received += 1
            self.stats.redundancy = self._packetizer.adapt(report, receivers=max(1, len(self.names)))

    async def _playout_loop(self) -> None:
        """One playout decision per sender per frame period, decoded on the decode thread."""
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            for stream in list(self.streams.values()):
                for playout in stream.due(now):
                    self._decode_queue.put((stream, playout))
            dues = [s.next_due for s in self.streams.values() if s.next_due is not None]
            await asyncio.sleep(max(0.0, min(dues, default=now + IDLE_TICK) - loop.time()))

    async def _report_loop(self) -> None:
        while True:
            await asyncio.sleep(REPORT_INTERVAL)
            if self._control is None or self._control.readyState != "open":
                continue
            for sender, stream in list(self.streams.items()):
                if not stream.idle:
                    self._control.send(stream.buffer.report(sender).to_bytes())

    def _decode_loop(self) -> None:
        while (item := self._decode_queue.get()) is not None:
            stream, playout = item
            pcm = stream.decode(playout)
            if self._on_frame is not None:
                self._on_frame(stream.sender_id, pcm)

    def _room_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "peer-joined":
            self.names[event["id"]] = event["name"]
            logger.info("%s joined", event["name"])
        elif kind == "peer-left":
            logger.info("%s left", self.names.get(event["id"], event["id"]))
            stream = self.streams.pop(event["id"], None)  # its id may be given to a newcomer
            if stream is not None:
                self._retired.append(stream)
        elif kind == "disconnected":
            self.disconnected.set()

    def _connection_state(self) -> None:
        assert self._pc is not None
        logger.info("connection %s", self._pc.connectionState)
        if self._pc.connectionState in ("failed", "closed"):
            self.disconnected.set()
