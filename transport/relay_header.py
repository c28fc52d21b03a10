"""What a relay reads of a media packet: its header bytes, not its frames.

Every media packet version keeps the first 8 bytes of the plain header in place (version and
payload type, flags, sequence number, timestamp, sender id: transport/README.md), so a relay
forwards on those and the packet's length, and leaves parsing frames, redundancy, parity and
sealed payloads to the receivers, which check everything (``parse_packet``, ``Opener``).
:data:`RELAYED_VERSIONS` is the one place that says which versions a relay forwards.
"""
from __future__ import annotations

from transport.e2ee import SEALED_HEADER_SIZE, SEALED_VERSION, TAG_BYTES
from transport.packet import HEADER_SIZE, VERSION, VERSION_3, PacketError

# version -> the shortest packet of that version: plain (8-byte header, L byte, one frame or
# one length varint), sealed (15-byte header, tag, at least one ciphertext byte), version 3
# (the plain header and one byte: a DTX keep-alive's background level).
RELAYED_VERSIONS: dict[int, int] = {
    VERSION: HEADER_SIZE + 2,
    SEALED_VERSION: SEALED_HEADER_SIZE + TAG_BYTES + 1,
    VERSION_3: HEADER_SIZE + 1,
}
_KEEPALIVE_BIT = 0x20  # version 3, byte 1: Q | P | K | N-1 (3 bits) | 00
# Far above the largest packet a codec makes (Opus 16 kbit/s with 4 primary and 15 redundant
# frames and parity: about 1.2 kB, sealed 23 bytes more), far below a data-channel message.
MAX_RELAYED_BYTES = 4096
_MIN_BY_FIRST_BYTE = tuple(RELAYED_VERSIONS.get(byte >> 6, 0) for byte in range(256))


def relay_header(data: bytes) -> tuple[int, int, int]:
    """``(payload type, sequence number, sender id)`` of a packet a relay may forward;
    :class:`PacketError` for a version it does not forward or a length out of bounds."""
    size = len(data)
    if not 0 < size <= MAX_RELAYED_BYTES:
        raise PacketError(f"a relayed packet has 1..{MAX_RELAYED_BYTES} bytes, got {size}")
    first = data[0]
    shortest = _MIN_BY_FIRST_BYTE[first]
    if not shortest:
        raise PacketError(f"packet version {first >> 6} is not relayed")
    if size < shortest:
        raise PacketError(f"version {first >> 6} packet of {size} bytes is shorter than {shortest}")
    return first & 0x3F, (data[2] << 8) | data[3], data[7]


def is_keepalive(data: bytes) -> bool:
    """Whether a packet :func:`relay_header` accepted is a DTX keep-alive (version 3, K set)."""
    return data[0] >> 6 == VERSION_3 and bool(data[1] & _KEEPALIVE_BIT)
