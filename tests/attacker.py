"""A hand-driven participant for the attack tests: real signaling and a real aiortc connection,
sending whatever the test wants. ``python -m tests.attacker flood URL ROOM`` runs a flood from
a process of its own (so the flood's CPU is not the listener's)."""
from __future__ import annotations

import argparse
import asyncio
import os
import time

from aiortc import RTCPeerConnection, RTCSessionDescription

from client.signaling import SignalingClient
from rtc.ice import IceSettings
from transport import Packet

LOOPBACK = IceSettings(host_addresses=("127.0.0.1",))


class RawPeer:
    """Joined to a room with open ``audio`` and ``control`` channels; what arrives is queued."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.received: asyncio.Queue[bytes] = asyncio.Queue()
        self.control_received: asyncio.Queue[bytes] = asyncio.Queue()
        self.id = -1
        self.signaling: SignalingClient | None = None
        self.pc: RTCPeerConnection | None = None

    @classmethod
    async def join(cls, url: str, room: str, name: str, token: str | None = None) -> "RawPeer":
        peer = cls()
        LOOPBACK.apply()
        peer.signaling = SignalingClient(url, peer.events.append)
        await peer.signaling.connect()
        joined = await peer.signaling.join(room, name, token)
        peer.id = joined["id"]
        peer.pc = RTCPeerConnection(LOOPBACK.rtc_configuration())
        peer.audio = peer.pc.createDataChannel("audio", ordered=False, maxRetransmits=0)
        peer.control = peer.pc.createDataChannel("control")
        peer.audio.on("message", peer.received.put_nowait)
        peer.control.on("message", peer.control_received.put_nowait)
        opened = asyncio.Event()
        peer.audio.on("open", opened.set)
        await peer.pc.setLocalDescription(await peer.pc.createOffer())
        answer = await peer.signaling.offer(peer.pc.localDescription.sdp)
        await peer.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await asyncio.wait_for(opened.wait(), 15)
        return peer

    def packet(self, seq: int, timestamp: int, frame_bytes: int = 8, frames: int = 2, pt: int = 8,
               redundant: int = 0) -> bytes:
        """A valid packet from us (payload type 8: Codec2 3200, 8-byte frames)."""
        return Packet(pt, seq % 65536, timestamp % (1 << 24), self.id,
                      frames=tuple(os.urandom(frame_bytes) for _ in range(frames)),
                      redundant=tuple(os.urandom(frame_bytes) for _ in range(redundant))).to_bytes()

    async def close(self) -> None:
        if self.pc is not None:
            await self.pc.close()
        if self.signaling is not None:
            await self.signaling.close()


async def flood(url: str, room: str, rate: float, size: int, seconds: float) -> int:
    """Join ``room`` and send ``rate`` valid packets a second of about ``size`` bytes."""
    peer = await RawPeer.join(url, room, "flood")
    print("joined", flush=True)
    sent, start = 0, time.monotonic()
    frames = max(1, min(4, size // 200))
    frame_bytes = max(1, min(255, (size - 9) // frames))
    try:
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(elapsed * rate) + 1
            while sent < due:
                peer.audio.send(peer.packet(sent, 2 * sent, frame_bytes, frames))
                sent += 1
            await asyncio.sleep(0.005)
    finally:
        await peer.close()
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("flood")
    f.add_argument("url")
    f.add_argument("room")
    f.add_argument("--rate", type=float, default=2000)
    f.add_argument("--size", type=int, default=1000)
    f.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    sent = asyncio.run(flood(args.url, args.room, args.rate, args.size, args.seconds))
    print(f"sent {sent}", flush=True)


if __name__ == "__main__":
    main()
