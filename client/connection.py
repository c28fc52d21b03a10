"""Opening a participant's WebRTC connection to the server: the audio and control channels."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Callable

from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription

from client.signaling import SignalingClient, SignalingFailed
from rtc.ice import IceSettings

CONNECT_TIMEOUT = 15.0


@dataclass
class CallConnection:
    """The peer connection with its ``audio`` and ``control`` channels, both unordered and
    never retransmitted: a lost receiver report is superseded by the next one a second later,
    while on a reliable channel it would hold back every later one for an SCTP retransmission
    timeout (1 s and more), just when a lossy link needs the sender to hear about it."""

    pc: RTCPeerConnection
    audio: RTCDataChannel
    control: RTCDataChannel


async def open_connection(signaling: SignalingClient, ice: IceSettings,
                          on_audio: Callable[[str | bytes], None],
                          on_control: Callable[[str | bytes], None]) -> CallConnection:
    """Offer both channels to the server (after ``join``) and wait until audio can flow."""
    pc = RTCPeerConnection(ice.rtc_configuration())
    audio = pc.createDataChannel("audio", ordered=False, maxRetransmits=0)
    control = pc.createDataChannel("control", ordered=False, maxRetransmits=0)
    audio.on("message", on_audio)
    control.on("message", on_control)
    opened = asyncio.Event()
    audio.on("open", opened.set)
    try:
        await pc.setLocalDescription(await pc.createOffer())
        answer = await signaling.offer(pc.localDescription.sdp)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        except Exception as exc:  # aiortc raises assorted errors on bad SDP
            raise SignalingFailed(f"the server's answer is not usable SDP: {type(exc).__name__}") from None
        try:
            await asyncio.wait_for(opened.wait(), CONNECT_TIMEOUT)
        except asyncio.TimeoutError:
            raise SignalingFailed(f"no media connection to the server within {CONNECT_TIMEOUT:g} s "
                                  "(ICE failed: check --ice-host / --ice-server)") from None
    except BaseException:
        await pc.close()
        raise
    return CallConnection(pc, audio, control)
