"""A synthetic call participant: real signaling, a real aiortc connection, real-size packets
sent at the real rate, but no codec and no audio. Used by the load benchmark and by the
network tests, where what matters is the traffic and the receiver reports, not the sound.

Packets come from :class:`transport.packetizer.Packetizer` (frames of ``frame_bytes`` bytes,
redundancy included); received ones go through a real :class:`transport.jitterbuffer.JitterBuffer`
per sender when ``playout`` is on, whose receiver reports go to the server on the control
channel once per ``report_interval_s``; reports about our own stream, which the server
forwards, adapt the redundancy as a real sender's would.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCDataChannel, RTCPeerConnection

from client.connection import open_connection
from client.signaling import SignalingClient, SignalingFailed
from rtc.ice import IceSettings
from transport.jitterbuffer import JitterBuffer, JitterBufferConfig
from transport.packet import HEADER_SIZE, PacketError
from transport.packetizer import Packetizer, PacketizerConfig
from transport.report import parse_report

logger = logging.getLogger(__name__)



@dataclass(frozen=True)
class TrafficConfig:
    """What a synthetic participant sends. The defaults are the neural codec's budget:
    16-bit frames at 50 Hz (800 bit/s), two frames a packet, 8 frames of redundancy."""

    frame_bytes: int = 2
    frame_ms: float = 20.0
    frames_per_packet: int = 2
    redundancy: int = 8
    payload_type: int = 1
    playout: bool = True
    report_interval_s: float = 1.0

    def __post_init__(self) -> None:
        if not 1 <= self.frame_bytes <= 255:
            raise ValueError("frame_bytes must be in 1..255")
        if self.frame_ms <= 0 or self.report_interval_s <= 0:
            raise ValueError("frame_ms and report_interval_s must be positive")

    @property
    def packet_interval_s(self) -> float:
        return self.frame_ms * self.frames_per_packet / 1000


@dataclass
class PeerStats:
    """What one synthetic participant sent and received."""

    packets_sent: int = 0
    packets_skipped: int = 0  # withheld on purpose (injected loss)
    packets_received: Counter = field(default_factory=Counter)  # by sender id
    malformed: int = 0
    reports_sent: int = 0
    reports_received: int = 0  # about our own stream, forwarded by the server
    latencies: list[float] = field(default_factory=list)  # seconds, when a partner is set


class SyntheticPeer:
    """Join ``room``, then :meth:`send` packets and receive the others'; :meth:`stop` is idempotent.

    To measure one-way latency through the server, set ``record_sends`` on the sender and
    make it the receiver's ``partner`` (both in this process).
    """

    def __init__(self, server_url: str, room: str, name: str, config: TrafficConfig | None = None,
                 ice: IceSettings | None = None) -> None:
        self.room, self.name = room, name
        self.config = config or TrafficConfig()
        self.ice = ice or IceSettings(host_addresses=("127.0.0.1",))
        self.stats = PeerStats()
        self.id: int | None = None
        self.partner: SyntheticPeer | None = None
        self.record_sends = False
        self.sent_at: dict[int, float] = {}  # seq -> perf_counter time, for the partner's latency
        self.buffers: dict[int, JitterBuffer] = {}
        self._ended: set[int] = set()  # senders whose stream was drained
        self._signaling = SignalingClient(server_url, self._room_event)
        self._pc: RTCPeerConnection | None = None
        self._audio: RTCDataChannel | None = None
        self._control: RTCDataChannel | None = None
        self._packetizer: Packetizer | None = None
        self._playout: asyncio.Task | None = None
        self._stopped = False

    async def start(self) -> None:
        """Connect, join and wait until the audio channel is open."""
        self.ice.apply()
        await self._signaling.connect()
        self.id = (await self._signaling.join(self.room, self.name))["id"]
        connection = await open_connection(self._signaling, self.ice, self._message, self._report)
        self._pc, self._audio, self._control = connection.pc, connection.audio, connection.control
        if self.config.playout:
            self._playout = asyncio.create_task(self._playout_loop())

    async def send(self, packets: int, skip: frozenset[int] = frozenset()) -> None:
        """Send ``packets`` packets paced at the real rate; sequence numbers in ``skip`` are
        built but not sent (loss injected at the source, so the receiver sees real gaps)."""
        assert self._audio is not None and self.id is not None, "start() first"
        c = self.config
        packetizer = self._packetizer = Packetizer(
            PacketizerConfig(c.payload_type, self.id, c.frames_per_packet, c.redundancy))
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        frame = 0
        for seq in range(packets):
            await asyncio.sleep(max(0.0, t0 + seq * c.packet_interval_s - loop.time()))
            if self._audio.readyState != "open":
                break
            built: list[bytes] = []
            while not built:
                built = packetizer.push(bytes([frame & 0xFF]) * c.frame_bytes)
                frame += 1
            if seq in skip:
                self.stats.packets_skipped += 1
                continue
            if self.record_sends:
                self.sent_at[seq & 0xFFFF] = time.perf_counter()
            self._audio.send(built[0])
            self.stats.packets_sent += 1

    def send_report(self, sender: int) -> bool:
        """Send the jitter buffer's receiver report about ``sender`` now; False if none."""
        buffer = self.buffers.get(sender)
        if buffer is None or self._control is None or self._control.readyState != "open":
            return False
        self._control.send(buffer.report(sender).to_bytes())
        self.stats.reports_sent += 1
        return True

    async def drain(self, sender: int, frames: int, timeout: float = 10.0) -> None:
        """Wait until the first ``frames`` frames of ``sender``'s stream have been played out
        (or concealed), then stop pulling it: a stream that ended is not a stream losing
        packets, though a jitter buffer cannot tell the two apart."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while sender not in self.buffers or self.buffers[sender].playout_timestamp < frames:
            if loop.time() > deadline:
                raise TimeoutError(f"{self.name}: stream of {sender} not played out within {timeout:g} s")
            await asyncio.sleep(self.config.frame_ms / 4000)
        self._ended.add(sender)

    async def stop(self) -> None:
        """Stop playout, close the connection and leave; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        if self._playout is not None:
            self._playout.cancel()
            await asyncio.gather(self._playout, return_exceptions=True)
        if self._pc is not None:
            await self._pc.close()
        await self._signaling.close()

    def _message(self, message: str | bytes) -> None:
        arrival = time.perf_counter()
        try:
            if isinstance(message, str):
                raise ValueError("text on the audio channel")
            if len(message) < HEADER_SIZE:
                raise PacketError(f"packet of {len(message)} bytes is shorter than the header")
            sender, packet = message[7], bytes(message)
            if self.config.playout:
                buffer = self.buffers.get(sender)
                if buffer is None:
                    buffer = self.buffers[sender] = JitterBuffer(JitterBufferConfig(frame_ms=self.config.frame_ms))
                buffer.push(packet, time.monotonic())
        except (ValueError, PacketError) as exc:
            self.stats.malformed += 1
            logger.debug("%s: dropped malformed packet: %s", self.name, exc)
            return
        self.stats.packets_received[sender] += 1
        partner = self.partner
        if partner is not None and partner.id == sender:
            sent = partner.sent_at.pop(int.from_bytes(packet[2:4], "big"), None)
            if sent is not None:
                self.stats.latencies.append(arrival - sent)

    def _report(self, message: str | bytes) -> None:
        """A receiver's report about our stream, forwarded by the server: adapt the redundancy
        to it, as a real sender does."""
        try:
            report = parse_report(message)
        except PacketError as exc:
            self.stats.malformed += 1
            logger.debug("%s: dropped malformed report: %s", self.name, exc)
            return
        self.stats.reports_received += 1
        if self._packetizer is not None and report.sender == self.id:
            self._packetizer.adapt(report)

    async def _playout_loop(self) -> None:
        """Pull one frame per frame period from every buffer; report once per interval."""
        loop = asyncio.get_running_loop()
        period = self.config.frame_ms / 1000
        per_report = max(1, round(self.config.report_interval_s / period))
        t0, tick = loop.time(), 0
        while True:
            tick += 1
            await asyncio.sleep(max(0.0, t0 + tick * period - loop.time()))
            now = time.monotonic()
            for sender, buffer in self.buffers.items():
                if sender not in self._ended:
                    buffer.pop(now)
            if tick % per_report == 0:
                for sender in list(self.buffers):
                    self.send_report(sender)

    def _room_event(self, event: dict[str, Any]) -> None:
        logger.debug("%s: %s", self.name, event.get("type"))


async def two_party_call(url: str, room: str, packets: int, config: TrafficConfig, ice: IceSettings,
                         go: asyncio.Event | None = None) -> dict[str, Any]:
    """A sends ``packets`` packets to B through the server; returns what B saw (JSON-ready).

    With ``go``, the call is set up first and sending waits for it (to impair the link in between).
    """
    a = SyntheticPeer(url, room, "synthetic-a", config, ice)
    b = SyntheticPeer(url, room, "synthetic-b", config, ice)
    a.record_sends, b.partner = True, a
    try:
        await a.start()
        await b.start()
        if go is not None:
            print("ready", flush=True)
            await go.wait()
        await a.send(packets)
        if config.playout:
            await b.drain(a.id, packets * config.frames_per_packet)
            b.send_report(a.id)
            await asyncio.sleep(0.1)  # let the last report leave
        latencies = sorted(b.stats.latencies)
        result: dict[str, Any] = {"sent": a.stats.packets_sent, "received": b.stats.packets_received[a.id],
                                  "reports": b.stats.reports_sent, "reports_forwarded": a.stats.reports_received,
                                  "latency_min_ms": 1000 * latencies[0] if latencies else None,
                                  "latency_median_ms": 1000 * latencies[len(latencies) // 2] if latencies else None}
        if a.id in b.buffers:
            result["jitter_buffer"] = vars(b.buffers[a.id].stats)
        return result
    finally:
        await a.stop()
        await b.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m loadgen.peer``: one synthetic two-party call, JSON summary on stdout."""
    import argparse
    import json
    import sys

    parser = argparse.ArgumentParser(prog="python -m loadgen.peer",
                                     description="A synthetic two-party call through a focalcall server "
                                                 "(real WebRTC, real-size packets, receiver reports).")
    parser.add_argument("--url", default="http://127.0.0.1:8080/", help="server URL")
    parser.add_argument("--room", default="synthetic", help="room name (default synthetic)")
    parser.add_argument("--seconds", type=float, default=10.0, help="call length (default 10)")
    parser.add_argument("--ice-host", default="127.0.0.1", help="address to gather ICE candidates from")
    parser.add_argument("--wait", action="store_true", help="print 'ready' once connected, send after a stdin line")
    args = parser.parse_args(argv)
    config = TrafficConfig()
    ice = IceSettings(host_addresses=(args.ice_host,))
    packets = max(1, round(args.seconds / config.packet_interval_s))

    async def run() -> dict[str, Any]:
        go = None
        if args.wait:
            go = asyncio.Event()
            loop = asyncio.get_running_loop()

            def line_read() -> None:
                sys.stdin.readline()
                loop.remove_reader(sys.stdin.fileno())
                go.set()

            loop.add_reader(sys.stdin.fileno(), line_read)
        return await two_party_call(args.url, args.room, packets, config, ice, go)

    try:
        result = asyncio.run(run())
    except (SignalingFailed, ValueError) as exc:
        print(f"loadgen.peer: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
