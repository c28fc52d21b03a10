"""rtc/forward_tsn.py: the aiortc internals it relies on, and FORWARD-TSNs counted through
aiortc's own advanced-peer-ack-point logic."""
from __future__ import annotations

import inspect
from collections import deque

from aiortc.rtcsctptransport import DataChunk, ForwardTsnChunk, RTCSctpTransport

from rtc.delayed_sack import DelayedSackTransport
from rtc.forward_tsn import OVERRIDDEN, RESEND_S, STATE_USED, ForwardTsnPacing

# The signatures this module was written against (aiortc 1.16). If an upgrade changes any of
# them, read rtc/forward_tsn.py against the new rtcsctptransport.py before updating these.
PINNED = {
    "_update_advanced_peer_ack_point": "(self) -> None",
    "_send_chunk": "(self, chunk: aiortc.rtcsctptransport.Chunk) -> None",
}


def test_overridden_methods_keep_their_signatures() -> None:
    assert set(PINNED) == set(OVERRIDDEN)
    for name in OVERRIDDEN:
        assert str(inspect.signature(getattr(RTCSctpTransport, name))) == PINNED[name]
    source = inspect.getsource(RTCSctpTransport)
    for name in STATE_USED:
        assert f"self.{name}" in source
    # aiortc sends the chunk _update_advanced_peer_ack_point leaves, on its next transmit
    assert "await self._send_chunk(self._forward_tsn_chunk)" in inspect.getsource(RTCSctpTransport._transmit)
    assert issubclass(DelayedSackTransport, ForwardTsnPacing)


class Recorded(RTCSctpTransport):
    """aiortc's transport with what it would put on the wire kept in ``sent``."""

    async def _send_chunk(self, chunk) -> None:
        self.sent.append(chunk)


class Paced(ForwardTsnPacing, Recorded):
    pass


def abandoned(tsn: int) -> DataChunk:
    chunk = DataChunk(flags=0x07)  # unordered, first and last fragment
    chunk.tsn, chunk._abandoned = tsn, True
    return chunk


def sender(cls: type) -> RTCSctpTransport:
    """The sender-side state aiortc's _update_advanced_peer_ack_point reads (no DTLS under it)."""
    sctp = cls.__new__(cls)
    sctp.sent, sctp._rto = [], 3.0
    sctp._last_sacked_tsn = sctp._advanced_peer_ack_tsn = 99
    sctp._outbound_queue, sctp._sent_queue = deque(), deque()
    sctp._forward_tsn_streams, sctp._forward_tsn_chunk = {}, None
    return sctp


async def sacks(sctp: RTCSctpTransport, n: int) -> None:
    """``n`` SACKs that do not yet acknowledge the abandoned TSNs, as behind a full queue:
    aiortc recomputes the FORWARD-TSN after each and its transmit sends what is left."""
    for _ in range(n):
        sctp._update_advanced_peer_ack_point()
        if sctp._forward_tsn_chunk is not None:
            await sctp._send_chunk(sctp._forward_tsn_chunk)
            sctp._forward_tsn_chunk = None


def forward_tsns(sctp) -> list[int]:
    return [c.cumulative_tsn for c in sctp.sent if isinstance(c, ForwardTsnChunk)]


async def test_aiortc_alone_resends_the_same_forward_tsn_with_every_sack() -> None:
    sctp = sender(Recorded)
    sctp._sent_queue.append(abandoned(100))
    await sacks(sctp, 8)
    assert forward_tsns(sctp) == [100] * 8


async def test_the_same_point_goes_once_a_new_one_at_once_a_lost_one_again_later() -> None:
    sctp = sender(Paced)
    sctp._sent_queue.append(abandoned(100))
    await sacks(sctp, 8)
    assert forward_tsns(sctp) == [100] and sctp.forward_tsns_held == 7
    sctp._sent_queue.extend([abandoned(101), abandoned(102)])
    await sacks(sctp, 3)
    assert forward_tsns(sctp) == [100, 102]  # a new advanced point is not held back
    tsn, at = sctp._forward_tsn_sent
    sctp._forward_tsn_sent = (tsn, at - RESEND_S)  # a second later: the last one may be lost
    await sacks(sctp, 3)
    assert forward_tsns(sctp) == [100, 102, 102]
    sctp._last_sacked_tsn = 102  # acknowledged: nothing more to send
    await sacks(sctp, 2)
    assert forward_tsns(sctp) == [100, 102, 102]
