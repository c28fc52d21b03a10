"""Delayed SACKs for aiortc's SCTP, as RFC 4960 section 6.2 intends.

aiortc 1.16 answers every received packet that carries DATA with a SACK datagram of its own.
A relay receiving 25 audio packets a second per participant therefore sends 25 SACKs a second
back, each a DTLS record and a UDP datagram, and its peers do the same for what it sends them:
11-20 % of the server's CPU (BENCHMARKS.md, "Server hot path"). RFC 4960 6.2 asks for a SACK
for at least every second packet received, or within 200 ms (at most 500 ms) of an
unacknowledged one, and at once when there are gaps or duplicates.

:class:`DelayedSackTransport` does that by overriding four private methods of aiortc's
``RTCSctpTransport`` (the names in :data:`OVERRIDDEN`); ``tests/test_delayed_sack.py`` fails
if any of them or the state they use changes under an aiortc upgrade. :func:`use_delayed_sack`
makes every ``RTCPeerConnection`` of this process use it (or aiortc's own class again).
"""
from __future__ import annotations

import asyncio
import logging

from aiortc import rtcpeerconnection
from aiortc.rtcsctptransport import RTCSctpTransport

from rtc.forward_tsn import ForwardTsnPacing

logger = logging.getLogger(__name__)

SACK_DELAY_S = 0.2  # RFC 4960 6.2: "SHOULD be generated within 200 ms"
PACKETS_PER_SACK = 2  # "at least every second packet"
# The aiortc methods this module overrides, and the state it reads: the guard test pins them.
OVERRIDDEN = ("_send_sack", "_receive_data_chunk", "_receive_forward_tsn_chunk", "_set_state")
STATE_USED = ("_sack_needed", "_sack_misordered", "_sack_duplicates", "_association_state")

_AIORTC_TRANSPORT = RTCSctpTransport


class DelayedSackTransport(ForwardTsnPacing, RTCSctpTransport):
    """aiortc's SCTP transport, acknowledging every second DATA packet or after
    :data:`SACK_DELAY_S`, and at once on gaps, duplicates, the SACK after a gap, and
    FORWARD-TSN (RFC 3758: a sender abandoning messages waits on it); its own FORWARD-TSNs
    paced (:mod:`rtc.forward_tsn`)."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self._sack_held = 0  # DATA packets received since the last SACK
        self._sack_data_seen = False  # the packet being handled carried DATA
        self._sack_now = False  # something asks for an immediate SACK
        self._sack_reported_gaps = False  # the last SACK sent reported gaps
        self._sack_timer: asyncio.TimerHandle | None = None
        self.sacks_sent = 0
        self.sacks_delayed = 0  # of them, sent by the timer

    async def _receive_data_chunk(self, chunk) -> None:  # type: ignore[no-untyped-def]
        self._sack_data_seen = True
        await super()._receive_data_chunk(chunk)

    async def _receive_forward_tsn_chunk(self, chunk) -> None:  # type: ignore[no-untyped-def]
        self._sack_now = True
        await super()._receive_forward_tsn_chunk(chunk)

    async def _send_sack(self) -> None:
        """Called by aiortc after each received packet that needs acknowledging: send the SACK
        now or leave it pending (``_sack_needed`` stays set) under the delay timer."""
        if self._sack_data_seen:
            self._sack_data_seen = False
            self._sack_held += 1
        immediate = (self._sack_now or self._sack_reported_gaps or bool(self._sack_misordered)
                     or bool(self._sack_duplicates) or self._sack_held >= PACKETS_PER_SACK
                     or self._association_state != self.State.ESTABLISHED)
        if immediate:
            await self._flush_sack()
        elif self._sack_timer is None:
            self._sack_timer = asyncio.get_running_loop().call_later(SACK_DELAY_S, self._sack_timer_expired)

    async def _flush_sack(self) -> None:
        self._cancel_sack_timer()
        self._sack_held = 0
        self._sack_now = False
        self._sack_reported_gaps = bool(self._sack_misordered)
        self.sacks_sent += 1
        await super()._send_sack()

    def _sack_timer_expired(self) -> None:
        self._sack_timer = None
        if self._sack_needed and self._association_state == self.State.ESTABLISHED:
            self.sacks_delayed += 1
            asyncio.ensure_future(self._delayed_flush())

    async def _delayed_flush(self) -> None:
        try:
            await self._flush_sack()
        except ConnectionError as exc:  # the DTLS transport closed meanwhile
            logger.debug("delayed SACK not sent: %s", exc)

    def _cancel_sack_timer(self) -> None:
        if self._sack_timer is not None:
            self._sack_timer.cancel()
            self._sack_timer = None

    def _set_state(self, state: RTCSctpTransport.State) -> None:
        if state == self.State.CLOSED:
            self._cancel_sack_timer()
        super()._set_state(state)


def use_delayed_sack(enabled: bool) -> None:
    """Make this process's new ``RTCPeerConnection`` objects use :class:`DelayedSackTransport`
    (``True``) or aiortc's own transport (``False``). Connections already made keep theirs."""
    rtcpeerconnection.RTCSctpTransport = DelayedSackTransport if enabled else _AIORTC_TRANSPORT


def delayed_sack_in_use() -> bool:
    """Whether new connections get :class:`DelayedSackTransport`."""
    return rtcpeerconnection.RTCSctpTransport is DelayedSackTransport
