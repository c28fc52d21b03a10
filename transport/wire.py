"""Bytes a packet really costs on the WebRTC data channel (see README, "Overhead")."""
from __future__ import annotations

# IPv4 20 + UDP 8 + DTLS 1.2 AES-GCM record 37 + SCTP common header 12 + DATA chunk 16.
DATACHANNEL_OVERHEAD_IPV4 = 93


def wire_bytes(packet_len: int) -> int:
    """IP packet size carrying a ``packet_len``-byte data-channel message (SCTP pads to 4)."""
    return DATACHANNEL_OVERHEAD_IPV4 + -(-packet_len // 4) * 4
