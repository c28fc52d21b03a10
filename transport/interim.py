"""Interim audio packet of the first calls: one codec frame per packet (to be replaced by packet.py).

Layout (big-endian)::

    0      1          2..3     4..
    0x7F   sender id  seq u16  codec frame
"""
from __future__ import annotations

import struct

MARKER = 0x7F
HEADER = struct.Struct("!BBH")


class FramingError(ValueError):
    """A packet that is not a valid interim audio packet."""


def build_packet(sender_id: int, seq: int, payload: bytes) -> bytes:
    """Frame ``payload`` (one codec frame) with sender id and 16-bit sequence number."""
    return HEADER.pack(MARKER, sender_id, seq & 0xFFFF) + payload


def parse_packet(packet: bytes) -> tuple[int, int, bytes]:
    """Return ``(sender_id, seq, payload)``; raise :class:`FramingError` if malformed."""
    if len(packet) <= HEADER.size:
        raise FramingError(f"packet of {len(packet)} bytes is shorter than header plus one byte")
    marker, sender, seq = HEADER.unpack_from(packet)
    if marker != MARKER:
        raise FramingError(f"unknown packet marker 0x{marker:02x}")
    return sender, seq, bytes(packet[HEADER.size:])
