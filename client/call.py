"""A Python participant in a call: signaling, one WebRTC connection, send and receive audio."""
from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription

from client.receiver import SenderTrack
from client.recording import ReceivedTrack
from client.signaling import SignalingClient, SignalingFailed
from client.sources import AudioSource
from codec.base import Codec
from focalcall.ice import IceSettings
from transport.interim import FramingError, build_packet, parse_packet

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 15.0


@dataclass
class SendStats:
    """What this participant sent."""

    packets: int = 0
    payload_bytes: int = 0
    wire_bytes: int = 0
    seconds: float = 0.0


@dataclass
class CallStats:
    """Counters for the end-of-call summary."""

    sent: SendStats = field(default_factory=SendStats)
    malformed: int = 0


class Call:
    """Join a room, then :meth:`send` a source and collect what the others send.

    Encoding runs on a worker thread via ``run_in_executor`` and decoding on a decode
    thread, so codec work never blocks the event loop. :meth:`stop` is idempotent.
    """

    def __init__(self, server_url: str, room: str, name: str, codec: Codec,
                 ice: IceSettings | None = None,
                 on_frame: Callable[[int, np.ndarray], None] | None = None) -> None:
        self.room, self.name, self.codec = room, name, codec
        self.ice = ice or IceSettings()
        self.stats = CallStats()
        self.id: int | None = None
        self.names: dict[int, str] = {}
        self.tracks: dict[int, ReceivedTrack] = {}
        self.connected = asyncio.Event()
        self.disconnected = asyncio.Event()
        self._on_frame = on_frame
        self._signaling = SignalingClient(server_url, self._room_event)
        self._pc: RTCPeerConnection | None = None
        self._audio: RTCDataChannel | None = None
        self._encode_pool = ThreadPoolExecutor(1, thread_name_prefix="encode")
        self._decode_queue: queue.Queue[tuple[int, int, bytes, float] | None] = queue.Queue()
        self._decode_thread = threading.Thread(target=self._decode_loop, name="decode", daemon=True)
        self._started_at = time.monotonic()
        self._stopped = False

    async def start(self) -> None:
        """Connect, join the room and wait until the audio channel is open."""
        self.ice.apply()
        self._decode_thread.start()
        await self._signaling.connect()
        joined = await self._signaling.join(self.room, self.name)
        self.id = joined["id"]
        self.names.update({p["id"]: p["name"] for p in joined["participants"]})
        self._pc = RTCPeerConnection(self.ice.rtc_configuration())
        self._pc.on("connectionstatechange", self._connection_state)
        self._audio = self._pc.createDataChannel("audio", ordered=False, maxRetransmits=0)
        self._pc.createDataChannel("control")
        self._audio.on("message", self._audio_message)
        opened = asyncio.Event()
        self._audio.on("open", opened.set)
        await self._pc.setLocalDescription(await self._pc.createOffer())
        answer = await self._signaling.offer(self._pc.localDescription.sdp)
        await self._pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        try:
            await asyncio.wait_for(opened.wait(), CONNECT_TIMEOUT)
        except asyncio.TimeoutError:
            raise SignalingFailed(f"no media connection to the server within {CONNECT_TIMEOUT:g} s "
                                  "(ICE failed: check --ice-host / --ice-server)") from None
        self._started_at = time.monotonic()
        self.connected.set()

    async def send(self, source: AudioSource) -> None:
        """Encode and send every frame of ``source``, one packet per frame, paced in real time."""
        assert self._audio is not None and self.id is not None, "start() first"
        loop = asyncio.get_running_loop()
        encoder = self.codec.encoder()
        period = self.codec.frame_samples / self.codec.sample_rate
        t0 = loop.time()
        seq = 0
        async for frame in source.frames():
            if not source.realtime:  # a file: wait for the frame's due time
                await asyncio.sleep(max(0.0, t0 + seq * period - loop.time()))
            payload = await loop.run_in_executor(self._encode_pool, encoder.encode, frame)
            if self._audio.readyState != "open":
                break
            packet = build_packet(self.id, seq, payload)
            self._audio.send(packet)
            seq += 1
            self.stats.sent.packets += 1
            self.stats.sent.payload_bytes += len(payload)
            self.stats.sent.wire_bytes += len(packet)
            self.stats.sent.seconds += period

    async def stop(self) -> None:
        """Leave the call and finish decoding what arrived; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        if self._pc is not None:
            await self._pc.close()
        await self._signaling.close()
        if self._decode_thread.is_alive():
            self._decode_queue.put(None)
            await asyncio.get_running_loop().run_in_executor(None, self._decode_thread.join)
        self._encode_pool.shutdown(wait=True)

    def received(self) -> list[ReceivedTrack]:
        """Every sender heard so far, in id order (complete once :meth:`stop` returned)."""
        return [self.tracks[k] for k in sorted(self.tracks)]

    def _audio_message(self, message: str | bytes) -> None:
        try:
            if isinstance(message, str):
                raise FramingError("text message on the audio channel")
            sender, seq, payload = parse_packet(message)
        except FramingError as exc:
            self.stats.malformed += 1
            logger.debug("dropped malformed audio packet: %s", exc)
            return
        self._decode_queue.put((sender, seq, payload, time.monotonic()))

    def _decode_loop(self) -> None:
        while (item := self._decode_queue.get()) is not None:
            sender, seq, payload, arrival = item
            received = self.tracks.get(sender)
            if received is None:
                received = ReceivedTrack(sender, self.names.get(sender, f"participant-{sender}"),
                                         SenderTrack(self.codec), arrival)
                self.tracks[sender] = received
            for pcm in received.track.push(seq, payload):
                if self._on_frame is not None:
                    self._on_frame(sender, pcm)
        for sender, received in self.tracks.items():
            for pcm in received.track.flush():
                if self._on_frame is not None:
                    self._on_frame(sender, pcm)

    def _room_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "peer-joined":
            self.names[event["id"]] = event["name"]
            logger.info("%s joined", event["name"])
        elif kind == "peer-left":
            logger.info("%s left", self.names.get(event["id"], event["id"]))
        elif kind == "disconnected":
            self.disconnected.set()

    def _connection_state(self) -> None:
        assert self._pc is not None
        logger.info("connection %s", self._pc.connectionState)
        if self._pc.connectionState in ("failed", "closed"):
            self.disconnected.set()
