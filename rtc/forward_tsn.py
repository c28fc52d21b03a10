"""FORWARD-TSN paced to once per round trip for aiortc's SCTP (RFC 3758), for narrow links.

aiortc 1.16 recomputes the FORWARD-TSN after every SACK and sends it again while the SACK does
not yet acknowledge the advanced peer ack point ("until the peer acknowledges it", against a
lost one). Behind a full bottleneck queue the peer's SACKs go on acknowledging older TSNs for a
whole queue's delay, so every SACK draws another copy of the same FORWARD-TSN. On the 16 kbit/s
test link (tests/test_constrained_link.py) Ada sent 4-9 a second, about 100 bytes each on the
wire: with the audio the link stayed full for 10 s and more after the sender had cut its rate
to half the link (tc's backlog, measured). RFC 3758 3.5 C3 asks for a resend only when the
earlier one may have been lost: :class:`ForwardTsnPacing` sends a new advanced point at once
and the same point again only after :data:`RESEND_S` (or the RTO, if shorter).

The mixin overrides two private methods of aiortc's ``RTCSctpTransport`` (:data:`OVERRIDDEN`)
and reads :data:`STATE_USED`; ``tests/test_forward_tsn.py`` fails if they change under an
aiortc upgrade. :class:`rtc.delayed_sack.DelayedSackTransport` (the default) includes it.
"""
from __future__ import annotations

import time

from aiortc.rtcsctptransport import Chunk, ForwardTsnChunk

RESEND_S = 1.0  # the same FORWARD-TSN at most this often (a lost one is resent after it)
OVERRIDDEN = ("_update_advanced_peer_ack_point", "_send_chunk")
STATE_USED = ("_forward_tsn_chunk", "_rto")


class ForwardTsnPacing:
    """Mixin for an ``RTCSctpTransport`` subclass (listed before it): a FORWARD-TSN for an
    advanced point already sent less than ``min(RESEND_S, RTO)`` ago is not sent again."""

    _forward_tsn_chunk: ForwardTsnChunk | None
    _rto: float
    _forward_tsn_sent: tuple[int, float] | None = None  # (cumulative TSN, monotonic time)
    forward_tsns_held = 0  # copies not sent

    def _update_advanced_peer_ack_point(self) -> None:
        super()._update_advanced_peer_ack_point()  # type: ignore[misc]
        chunk, sent = self._forward_tsn_chunk, self._forward_tsn_sent
        if (chunk is not None and sent is not None and sent[0] == chunk.cumulative_tsn
                and time.monotonic() - sent[1] < min(RESEND_S, self._rto)):
            self._forward_tsn_chunk = None
            self.forward_tsns_held += 1

    async def _send_chunk(self, chunk: Chunk) -> None:
        if isinstance(chunk, ForwardTsnChunk):
            self._forward_tsn_sent = (chunk.cumulative_tsn, time.monotonic())
        await super()._send_chunk(chunk)  # type: ignore[misc]
