"""The server's side of one participant's WebRTC connection: its audio and control channels."""
from __future__ import annotations

import logging
from typing import Callable

from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription

from rtc.ice import IceSettings
from server.metrics import ServerMetrics

logger = logging.getLogger(__name__)

AUDIO_LABEL = "audio"
CONTROL_LABEL = "control"


class PeerConnection:
    """Wraps an aiortc peer connection answering the participant's offer.

    ``on_audio(packet)`` is called with every message on the ``audio`` channel; the server
    decides what to relay. Sending only happens while the channel is open.
    """

    def __init__(self, ice: IceSettings, metrics: ServerMetrics,
                 on_audio: Callable[[bytes], None], on_control: Callable[[str | bytes], None]) -> None:
        self.metrics = metrics
        self.pc = RTCPeerConnection(ice.rtc_configuration())
        self.audio: RTCDataChannel | None = None
        self.control: RTCDataChannel | None = None
        self._on_audio = on_audio
        self._on_control = on_control
        self._closed = False
        self.pc.on("datachannel", self._datachannel)
        self.pc.on("connectionstatechange", self._connection_state)

    async def answer(self, offer_sdp: str) -> str:
        """Apply the participant's offer and return our answer SDP (ICE gathered, no trickle).

        Raises ``ValueError`` for an offer without a data-channel section: aiortc would
        happily answer it, leaving a connection that can never carry audio.
        """
        if not any(line.startswith("m=application") for line in offer_sdp.splitlines()):
            raise ValueError("the offer has no data-channel (m=application) section")
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return self.pc.localDescription.sdp

    def send_audio(self, packet: bytes) -> bool:
        """Send one audio packet if the channel is open; return whether it was sent."""
        channel = self.audio
        if channel is None or channel.readyState != "open":
            return False
        channel.send(packet)
        return True

    def send_control(self, message: str | bytes) -> None:
        """Send a control message if the control channel is open."""
        if self.control is not None and self.control.readyState == "open":
            self.control.send(message)

    def rtt_seconds(self) -> float | None:
        """Smoothed SCTP round-trip time to the participant, ``None`` before one is measured.

        aiortc keeps it in a private attribute (1.16); a missing attribute means unknown.
        """
        sctp = self.pc.sctp
        return getattr(sctp, "_srtt", None) if sctp is not None else None

    async def close(self) -> None:
        """Close the connection; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        await self.pc.close()

    def _datachannel(self, channel: RTCDataChannel) -> None:
        self.metrics.channel_states.labels(self._label(channel), "open").inc()
        if channel.label == AUDIO_LABEL:
            self.audio = channel
            channel.on("message", self._audio_message)
        elif channel.label == CONTROL_LABEL:
            self.control = channel
            channel.on("message", self._on_control)
        else:
            logger.info("ignoring unexpected data channel %r", channel.label)
        channel.on("close", lambda: self.metrics.channel_states.labels(self._label(channel), "closed").inc())

    def _audio_message(self, message: str | bytes) -> None:
        if isinstance(message, str):
            self.metrics.malformed_packets.labels("text").inc()
            return
        self._on_audio(message)

    def _connection_state(self) -> None:
        self.metrics.connection_states.labels(self.pc.connectionState).inc()

    @staticmethod
    def _label(channel: RTCDataChannel) -> str:
        return channel.label if channel.label in (AUDIO_LABEL, CONTROL_LABEL) else "other"
