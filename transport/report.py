"""Receiver report: what a receiver tells a sender on the control channel (24 or 28 bytes).

Layout (big-endian)::

    0      V(2) = 1 | type(6): 1 (24 bytes) or 2 (28 bytes: type 1 plus queueing delay)
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
    [type 2]
    24-25  mean queueing delay since the last report, ms (:mod:`transport.queuedelay`)
    26-27  delay trend since the last report: signed, 0.1 ms of one-way delay per s

Fractions are quantized to 1/256 and times to the unit above; values saturate rather
than wrap. A report without packets in its interval has no queueing figures and goes as
type 1, which is also what receivers from before type 2 send. A sender adapts its
redundancy from ``max_burst`` and ``residual_loss``, and its frames per packet from the
loss, the queueing delay and the cap (:mod:`transport.packetsize`).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from transport.packet import MAX_SENDER, SEQ_MOD, VERSION, PacketError

REPORT_TYPE = 1  # without queueing delay
REPORT_TYPE_DELAY = 2  # with it
_FORMAT = struct.Struct("!BBHBBBBHHHHII")
_DELAY = struct.Struct("!Hh")
REPORT_SIZE = _FORMAT.size
REPORT_SIZE_DELAY = REPORT_SIZE + _DELAY.size
REPORT_SIZES = {REPORT_TYPE: REPORT_SIZE, REPORT_TYPE_DELAY: REPORT_SIZE_DELAY}


def _sat(value: float, top: int, bottom: int = 0) -> int:
    return max(bottom, min(top, int(round(value))))


def _fraction(value: float) -> int:
    return min(255, max(0, int(value * 256)))


@dataclass(frozen=True)
class ReceiverReport:
    """One receiver report. Times in milliseconds, fractions in [0, 1]; ``queue_delay_ms``
    and ``delay_trend`` (ms per s) are both None when not measured (type 1)."""

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
    queue_delay_ms: float | None = None
    delay_trend: float | None = None

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
        if (self.queue_delay_ms is None) != (self.delay_trend is None):
            raise PacketError("queue_delay_ms and delay_trend go together (both or neither)")
        if self.queue_delay_ms is not None and not self.queue_delay_ms >= 0:
            raise PacketError(f"queue_delay_ms {self.queue_delay_ms} must be non-negative")

    def to_bytes(self) -> bytes:
        """The wire encoding (quantized, saturating): 28 bytes with queueing delay, else 24."""
        delay = self.queue_delay_ms is not None
        head = _FORMAT.pack(
            (VERSION << 6) | (REPORT_TYPE_DELAY if delay else REPORT_TYPE), self.sender, self.highest_seq,
            _fraction(self.loss_fraction), _fraction(self.residual_loss),
            _sat(self.max_burst, 255), self.max_kbps, _sat(self.jitter_ms * 10, 0xFFFF),
            _sat(self.playout_delay_ms, 0xFFFF), _sat(self.target_delay_ms, 0xFFFF),
            _sat(self.recovered, 0xFFFF), _sat(self.concealed_total, 0xFFFFFFFF),
            _sat(self.lost_total, 0xFFFFFFFF))
        if not delay:
            return head
        return head + _DELAY.pack(_sat(self.queue_delay_ms, 0xFFFF), _sat(self.delay_trend * 10, 0x7FFF, -0x8000))


def parse_report(data: bytes) -> ReceiverReport:
    """Parse a receiver report of either type; malformed input raises :class:`PacketError` only."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise PacketError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise PacketError("receiver report is empty")
    head = data[0]
    if head >> 6 != VERSION or head & 0x3F not in REPORT_SIZES:
        raise PacketError(f"not a version {VERSION} receiver report (first byte 0x{head:02x})")
    size = REPORT_SIZES[head & 0x3F]
    if len(data) != size:
        raise PacketError(f"receiver report of type {head & 0x3F} must be {size} bytes, got {len(data)}")
    (_, sender, seq, loss, residual, burst, max_kbps, jitter, playout, target, recovered,
     concealed, lost) = _FORMAT.unpack(data[:REPORT_SIZE])
    queue, trend = _DELAY.unpack(data[REPORT_SIZE:]) if size == REPORT_SIZE_DELAY else (None, None)
    return ReceiverReport(sender, seq, loss / 256, residual / 256, burst, jitter / 10, playout,
                          target, recovered, concealed, lost, max_kbps, queue,
                          None if trend is None else trend / 10)
