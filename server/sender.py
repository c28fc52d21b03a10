"""What the relay keeps per sender: its rate budget, its sequence numbers, who receives it.

The budget caps each sender's packets and bytes per second at ``headroom`` times the most its
codec can need (one frame a packet, 15 redundant frames, parity on every packet), so nothing a
sender does costs the others more than a well-behaved sender of the same codec could. Until
the codec is known (looked up off the event loop), the largest codec's budget applies.
"""
from __future__ import annotations

import math
from typing import Hashable

from server.codec_facts import CodecFacts
from server.ratelimit import TokenBucket
from transport.packet import HEADER_SIZE, MAX_PRIMARY_V3, MAX_REDUNDANT, SEQ_MOD

# The largest codec (Opus 16 kbit/s, 20 ms frames): the budget before a sender's codec is known.
PROVISIONAL = CodecFacts(delay_s=0.0, bitrate=16000.0, frame_ms=20.0)
BURST_SECONDS = 1.0  # a sender may catch up on this much of its budget at once (a CPU stall)


def sender_need(facts: CodecFacts) -> tuple[float, float]:
    """Packets and bytes per second a sender of this codec can legitimately send, at most.

    Frames are taken 1.25x the codec's average size (variable-rate codecs); each packet
    carries up to 15 redundant frames with a length byte each and a parity block (8 bytes of
    varints and a frame) per primary frame. The worst case over 1..8 frames per packet (packet
    version 3, whose header is a byte longer) counts.
    """
    frame = math.ceil(1.25 * facts.bitrate * facts.frame_ms / 8000)
    worst_packets, worst_bytes = 0.0, 0.0
    for primary in range(1, MAX_PRIMARY_V3 + 1):
        per_second = 1000 / (facts.frame_ms * primary)
        size = HEADER_SIZE + 2 + (MAX_REDUNDANT + primary) * (frame + 1) + 1 + primary * (8 + frame)
        worst_packets = max(worst_packets, per_second)
        worst_bytes = max(worst_bytes, per_second * size)
    return worst_packets, worst_bytes


class SenderState:
    """One sender's budget and sequence bookkeeping at the relay."""

    def __init__(self, headroom: float, now: float) -> None:
        self.headroom = headroom
        self.payload_type: int | None = None
        self.facts = PROVISIONAL
        self.high_seq: int | None = None  # unwrapped, of the newest packet relayed
        # receiver -> (time, unwrapped sequence number) of the first packet relayed to it
        self.receivers: dict[Hashable, tuple[float, int]] = {}
        self._set_budget(PROVISIONAL, now)

    def _set_budget(self, facts: CodecFacts, now: float) -> None:
        packets, size = sender_need(facts)
        self._packets = TokenBucket(self.headroom * packets, self.headroom * packets * BURST_SECONDS, now)
        self._bytes = TokenBucket(self.headroom * size, self.headroom * size * BURST_SECONDS, now)

    def set_codec(self, payload_type: int, facts: CodecFacts | None, now: float) -> None:
        """The sender's payload type and (once looked up) its codec: the budget follows it."""
        self.payload_type = payload_type
        self.facts = facts or PROVISIONAL
        self._set_budget(self.facts, now)

    def admit(self, size: int, now: float) -> str | None:
        """Spend budget for a packet of ``size`` bytes: None if it may be relayed, else which
        limit it exceeds (``packets`` or ``bytes``)."""
        if not self._packets.take(now):
            return "packets"
        if not self._bytes.take(now, size):
            return "bytes"
        return None

    def observe_seq(self, seq: int) -> int:
        """Unwrap a relayed packet's sequence number (nearest to the newest); returns it."""
        if self.high_seq is None:
            self.high_seq = seq
            return seq
        delta = (seq - self.high_seq) % SEQ_MOD
        ext = self.high_seq + (delta - SEQ_MOD if delta >= SEQ_MOD // 2 else delta)
        self.high_seq = max(self.high_seq, ext)
        return ext

    def unwrap(self, seq: int) -> int:
        """A 16-bit sequence number from a report, unwrapped against the newest relayed."""
        if self.high_seq is None:
            return seq
        delta = (seq - self.high_seq) % SEQ_MOD
        return self.high_seq + (delta - SEQ_MOD if delta >= SEQ_MOD // 2 else delta)
