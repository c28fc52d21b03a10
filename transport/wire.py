"""Bytes a packet really costs on the WebRTC data channel (see README, "Overhead").

Each message is one SCTP DATA chunk in one DTLS record in one UDP datagram; the peer answers
DATA with SACKs, which cost the opposite direction a whole datagram each. How many DATA
packets one SACK covers is the peer's SCTP stack's choice: aiortc (our server and CLI) sends
one SACK per DATA packet, stacks with delayed SACKs (RFC 4960 6.2; Chromium's) one per two
packets or 200 ms. :class:`WireModel` counts both directions for either.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

IPV4_UDP = 20 + 8
DTLS_RECORD = 13 + 8 + 16  # header, explicit GCM nonce, tag (ECDHE-ECDSA-AES128-GCM-SHA256)
SCTP_COMMON = 12
DATA_CHUNK = 16
SACK_CHUNK = 16  # without gap blocks (4 bytes each, under loss) or duplicate TSNs
DATACHANNEL_OVERHEAD_IPV4 = IPV4_UDP + DTLS_RECORD + SCTP_COMMON + DATA_CHUNK  # 93
SACK_BYTES = IPV4_UDP + DTLS_RECORD + SCTP_COMMON + SACK_CHUNK  # 93 (a 65-byte UDP payload)


def wire_bytes(packet_len: int) -> int:
    """IP packet size carrying a ``packet_len``-byte data-channel message (SCTP pads to 4)."""
    return DATACHANNEL_OVERHEAD_IPV4 + -(-packet_len // 4) * 4


@dataclass(frozen=True)
class WireModel:
    """On-wire cost of a stream of messages, both directions. ``sack_every``: DATA packets
    per SACK sent back (1: aiortc today; 2: delayed SACKs; ``inf``: SACKs not counted)."""

    sack_every: float = 1.0

    def __post_init__(self) -> None:
        if not self.sack_every >= 1:
            raise ValueError("sack_every must be at least 1")

    def packet_bytes(self, packet_len: int) -> float:
        """Bytes one message costs: its IP packet plus its share of a SACK coming back."""
        return wire_bytes(packet_len) + SACK_BYTES / self.sack_every

    def rates(self, packet_lens: Iterable[int], seconds: float) -> tuple[float, float]:
        """(forward, back) bit/s of these messages sent over ``seconds``."""
        lens = list(packet_lens)
        forward = 8 * sum(wire_bytes(n) for n in lens) / seconds
        return forward, 8 * len(lens) * SACK_BYTES / self.sack_every / seconds

    def stream_bps(self, frames_per_packet: int, frame_bytes: float, redundancy: int, frame_ms: float,
                   header: int = 10) -> float:
        """Both directions' bit/s of a continuous stream: ``frames_per_packet`` frames of
        ``frame_bytes`` and ``redundancy`` copies a packet, one packet every N frames."""
        size = header + round((frames_per_packet + redundancy) * frame_bytes)
        return 8 * self.packet_bytes(size) * 1000 / (frame_ms * frames_per_packet)
