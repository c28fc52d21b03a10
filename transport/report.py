"""Receiver report: what a receiver tells a sender on the control channel (24 bytes).

Layout (big-endian)::

    0      V(2) = 1 | type(6) = 1
    1      sender id of the stream reported on
    2-3    highest sequence number received
    4      packet loss fraction since the last report, x256 (255 = all or nearly all)
    5      residual loss: frames concealed / frames played since the last report, x256
    6      longest run of consecutive lost packets since the last report (saturates at 255)
    7      the receiver's cap on this stream, kbit/s on the wire (every header), 1..255; 0: none
    8-9    interarrival jitter (RFC 3550 estimator), 0.1 ms units
    10-11  mean playout delay (time frames wait in the jitter buffer) since the last report, ms
    12-13  current target delay, ms
    14-15  frames recovered from redundancy or parity since the last report
    16-19  frames concealed, cumulative
    20-23  packets lost, cumulative

Fractions are quantized to 1/256 and times to the unit above; values saturate rather
than wrap. A sender adapts its redundancy from ``max_burst`` and ``residual_loss``, and its
frames per packet from the loss, the jitter and the cap (:mod:`transport.packetsize`).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from transport.packet import MAX_SENDER, SEQ_MOD, VERSION, PacketError

REPORT_TYPE = 1
_FORMAT = struct.Struct("!BBHBBBBHHHHII")
REPORT_SIZE = _FORMAT.size


def _sat(value: float, top: int) -> int:
    return max(0, min(top, int(round(value))))


def _fraction(value: float) -> int:
    return min(255, max(0, int(value * 256)))


@dataclass(frozen=True)
class ReceiverReport:
    """One receiver report. Times in milliseconds, fractions in [0, 1]."""

    sender: int
    highest_seq: int
    loss_fraction: float = 0.0
    residual_loss: float = 0.0
    max_burst: int = 0
    jitter_ms: float = 0.0
    playout_delay_ms: float = 0.0
    target_delay_ms: float = 0.0
    recovered: int = 0
    concealed_total: int = 0
    lost_total: int = 0
    max_kbps: int = 0  # the receiver's cap on this stream (0: none)

    def __post_init__(self) -> None:
        if not 0 <= self.sender <= MAX_SENDER:
            raise PacketError(f"sender id {self.sender} not in 0..{MAX_SENDER}")
        if not 0 <= self.highest_seq < SEQ_MOD:
            raise PacketError(f"sequence number {self.highest_seq} out of range")
        for name in ("loss_fraction", "residual_loss"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise PacketError(f"{name} {getattr(self, name)} not in [0, 1]")
        if not 0 <= self.max_kbps <= 255:
            raise PacketError(f"max_kbps {self.max_kbps} not in 0..255")

    def to_bytes(self) -> bytes:
        """The 24-byte wire encoding (quantized, saturating)."""
        return _FORMAT.pack(
            (VERSION << 6) | REPORT_TYPE, self.sender, self.highest_seq,
            _fraction(self.loss_fraction), _fraction(self.residual_loss),
            _sat(self.max_burst, 255), self.max_kbps, _sat(self.jitter_ms * 10, 0xFFFF),
            _sat(self.playout_delay_ms, 0xFFFF), _sat(self.target_delay_ms, 0xFFFF),
            _sat(self.recovered, 0xFFFF), _sat(self.concealed_total, 0xFFFFFFFF),
            _sat(self.lost_total, 0xFFFFFFFF))


def parse_report(data: bytes) -> ReceiverReport:
    """Parse a receiver report; malformed input raises :class:`PacketError` only."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise PacketError(f"expected bytes, got {type(data).__name__}")
    if len(data) != REPORT_SIZE:
        raise PacketError(f"receiver report must be {REPORT_SIZE} bytes, got {len(data)}")
    (head, sender, seq, loss, residual, burst, max_kbps, jitter, playout, target, recovered,
     concealed, lost) = _FORMAT.unpack(bytes(data))
    if head >> 6 != VERSION or head & 0x3F != REPORT_TYPE:
        raise PacketError(f"not a version {VERSION} receiver report (first byte 0x{head:02x})")
    return ReceiverReport(sender, seq, loss / 256, residual / 256, burst, jitter / 10, playout,
                          target, recovered, concealed, lost, max_kbps)
