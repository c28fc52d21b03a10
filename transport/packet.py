"""The focalcall media packet: a compact RTP-like header, frames, redundancy and parity.

Layout (all integers big-endian; transport/README.md has the full description)::

    0      V(2) = 1 | PT(6)             version, payload type (codec and mode)
    1      Q(1) | P(1) | N-1(2) | R(4)  quiet hint, parity present, primary and redundant counts
    2-3    sequence number (16 bits, one per packet)
    4-6    timestamp (24 bits, in frames) of the first primary frame
    7      sender id
    8      L: the length of every frame when all are equal (1..255), else 0
    [L=0]  R+N varint frame lengths, oldest frame first
           R redundant frames (timestamps ts-R .. ts-1), then N primary frames (ts .. ts+N-1)
    [P=1]  varint block count, then per block: varint back, stride, count, length_xor, size,
           then ``size`` parity bytes (see :class:`ParityBlock`)

Version 3 (the default of :class:`transport.Packetizer`) widens N to 1..8 and adds the DTX
keep-alive; byte 1 becomes ``Q(1) | P(1) | K(1) | N-1(3) | 00`` and R moves to its own byte::

    8      [K=0] R (0..15), then L, lengths, frames and parity exactly as in version 1
    8      [K=1] keep-alive: the sender's background level in -dBov (0..127); nothing follows

Every packet has exactly one encoding: parsing rejects anything :meth:`Packet.to_bytes`
would not produce, so ``parse(b).to_bytes() == b`` for every accepted ``b``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

VERSION = 1
VERSION_3 = 3  # wider N (1..8), DTX keep-alive packets
VERSIONS = (VERSION, VERSION_3)
HEADER_SIZE = 8
MAX_PAYLOAD_TYPE = 63
MAX_PRIMARY = 4  # version 1
MAX_PRIMARY_V3 = 8
MAX_LEVEL = 127  # keep-alive background level, -dBov (127: digital silence)
MAX_REDUNDANT = 15
MAX_SENDER = 255
SEQ_BITS = 16
TS_BITS = 24
SEQ_MOD = 1 << SEQ_BITS
TS_MOD = 1 << TS_BITS
MAX_VARINT = 0xFFFF  # frame lengths, parity sizes and offsets; a datagram can't be longer
MAX_PARITY_BLOCKS = 8
MAX_PARITY_COUNT = 64
MAX_PARITY_STRIDE = 16


class PacketError(ValueError):
    """A packet (or receiver report) is malformed; the message says what is wrong."""


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise PacketError(message)


@dataclass(frozen=True)
class ParityBlock:
    """XOR parity over ``count`` frames at timestamps ``start + k * stride`` (mod 2**24).

    ``payload`` is the XOR of the covered frames, each zero-padded to the longest, and
    ``length_xor`` the XOR of their lengths: together they rebuild any single missing frame
    (RFC 5109 in spirit). Build blocks with :func:`transport.parity.make_parity`.
    """

    start: int
    stride: int
    count: int
    length_xor: int
    payload: bytes

    def __post_init__(self) -> None:
        _check(0 <= self.start < TS_MOD, f"parity start {self.start} out of range")
        _check(1 <= self.stride <= MAX_PARITY_STRIDE,
               f"parity stride {self.stride} not in 1..{MAX_PARITY_STRIDE}")
        _check(1 <= self.count <= MAX_PARITY_COUNT,
               f"parity count {self.count} not in 1..{MAX_PARITY_COUNT}")
        _check(0 <= self.length_xor <= MAX_VARINT,
               f"parity length_xor {self.length_xor} out of range")
        _check(len(self.payload) <= MAX_VARINT, "parity payload too long")

    def timestamps(self) -> list[int]:
        """Timestamps (mod 2**24) of the covered frames, oldest first."""
        return [(self.start + k * self.stride) % TS_MOD for k in range(self.count)]


@dataclass(frozen=True)
class Packet:
    """One media packet. ``frames`` are the primary frames at ``timestamp`` onwards;
    ``redundant`` are copies of the frames just before them, oldest first."""

    payload_type: int
    seq: int
    timestamp: int
    sender: int
    frames: tuple[bytes, ...]
    redundant: tuple[bytes, ...] = ()
    parity: tuple[ParityBlock, ...] = ()
    quiet: bool = False  # sender's hint: the primary frames are low-energy (safe to drop/stretch)
    version: int = VERSION
    level: int | None = None  # a DTX keep-alive (version 3): background level, -dBov; no frames

    @property
    def keepalive(self) -> bool:
        """A DTX keep-alive: the sender is silent from ``timestamp`` on (comfort noise)."""
        return self.level is not None

    def __post_init__(self) -> None:
        object.__setattr__(self, "frames", tuple(bytes(f) for f in self.frames))
        object.__setattr__(self, "redundant", tuple(bytes(f) for f in self.redundant))
        object.__setattr__(self, "parity", tuple(self.parity))
        _check(0 <= self.payload_type <= MAX_PAYLOAD_TYPE,
               f"payload type {self.payload_type} not in 0..{MAX_PAYLOAD_TYPE}")
        _check(0 <= self.seq < SEQ_MOD, f"sequence number {self.seq} out of range")
        _check(0 <= self.timestamp < TS_MOD, f"timestamp {self.timestamp} out of range")
        _check(0 <= self.sender <= MAX_SENDER, f"sender id {self.sender} not in 0..{MAX_SENDER}")
        _check(self.version in VERSIONS, f"unsupported packet version {self.version}")
        if self.level is not None:
            _check(self.version == VERSION_3, "keep-alive packets need version 3")
            _check(0 <= self.level <= MAX_LEVEL, f"keep-alive level {self.level} not in 0..{MAX_LEVEL}")
            _check(not (self.frames or self.redundant or self.parity) and self.quiet,
                   "a keep-alive carries no frames and is quiet")
            return
        most = max_primary(self.version)
        _check(1 <= len(self.frames) <= most,
               f"{len(self.frames)} primary frames, expected 1..{most}")
        _check(len(self.redundant) <= MAX_REDUNDANT,
               f"{len(self.redundant)} redundant frames, at most {MAX_REDUNDANT}")
        _check(len(self.parity) <= MAX_PARITY_BLOCKS,
               f"more than {MAX_PARITY_BLOCKS} parity blocks")
        for f in self.redundant + self.frames:
            _check(len(f) <= MAX_VARINT, f"frame of {len(f)} bytes is too long")
        for block in self.parity:
            _check((self.timestamp - block.start) % TS_MOD <= MAX_VARINT,
                   "parity block starts too far before the packet")

    def items(self) -> Iterator[tuple[int, bytes, bool]]:
        """``(timestamp mod 2**24, frame, is_primary)`` for every frame, oldest first."""
        first = self.timestamp - len(self.redundant)
        for i, frame in enumerate(self.redundant + self.frames):
            yield (first + i) % TS_MOD, frame, i >= len(self.redundant)

    def to_bytes(self) -> bytes:
        """The canonical wire encoding."""
        all_frames = self.redundant + self.frames
        n, r = len(self.frames), len(self.redundant)
        if self.version == VERSION:
            flags = (self.quiet << 7) | (bool(self.parity) << 6) | ((n - 1) << 4) | r
        else:
            flags = (self.quiet << 7) | (bool(self.parity) << 6) | (self.keepalive << 5) | (max(0, n - 1) << 2)
        out = bytearray(((self.version << 6) | self.payload_type, flags))
        out += self.seq.to_bytes(2, "big") + self.timestamp.to_bytes(3, "big")
        out.append(self.sender)
        if self.level is not None:
            out.append(self.level)
            return bytes(out)
        if self.version == VERSION_3:
            out.append(r)
        fixed = _fixed_length(all_frames)
        out.append(fixed)
        if not fixed:
            for f in all_frames:
                _put_varint(out, len(f))
        for f in all_frames:
            out += f
        if self.parity:
            _put_varint(out, len(self.parity))
            for b in self.parity:
                for value in ((self.timestamp - b.start) % TS_MOD, b.stride, b.count,
                              b.length_xor, len(b.payload)):
                    _put_varint(out, value)
                out += b.payload
        return bytes(out)


def max_primary(version: int) -> int:
    """The most primary frames a packet of ``version`` can carry."""
    return MAX_PRIMARY_V3 if version == VERSION_3 else MAX_PRIMARY


def _fixed_length(frames: tuple[bytes, ...]) -> int:
    """The L byte: the common frame length if there is one in 1..255, else 0."""
    length = len(frames[0])
    if 1 <= length <= 255 and all(len(f) == length for f in frames):
        return length
    return 0


def _put_varint(out: bytearray, value: int) -> None:
    """Unsigned LEB128: 7 bits a byte, low bits first, high bit set on all but the last."""
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


class _Reader:
    """Cursor over a datagram; every read checks bounds and raises :class:`PacketError`."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.pos, self.what = data, 0, what

    def take(self, n: int, name: str) -> bytes:
        _check(self.pos + n <= len(self.data),
               f"truncated {self.what}: {name} needs {n} bytes at offset {self.pos}, "
               f"{len(self.data) - self.pos} left")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def varint(self, name: str) -> int:
        value, shift, start = 0, 0, self.pos
        while True:
            (byte,) = self.take(1, name)
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
            _check(shift < 21, f"varint {name} at offset {start} longer than 3 bytes")
        _check(self.pos - start == 1 or byte != 0,
               f"varint {name} at offset {start} is not minimal")
        _check(value <= MAX_VARINT, f"varint {name} at offset {start} exceeds {MAX_VARINT}")
        return value

    def end(self) -> None:
        _check(self.pos == len(self.data),
               f"{len(self.data) - self.pos} trailing bytes after {self.what} at offset {self.pos}")


def parse_packet(data: bytes) -> Packet:
    """Parse one datagram; any malformed input raises :class:`PacketError` (nothing else)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise PacketError(f"expected bytes, got {type(data).__name__}")
    rd = _Reader(bytes(data), "packet")
    head = rd.take(HEADER_SIZE + 1, "header")
    version = head[0] >> 6
    _check(version in VERSIONS, f"unsupported packet version {version} (expected 1 or 3)")
    flags = head[1]
    timestamp = int.from_bytes(head[4:7], "big")
    common = dict(payload_type=head[0] & 0x3F, seq=int.from_bytes(head[2:4], "big"),
                  timestamp=timestamp, sender=head[7], version=version)
    if version == VERSION:
        n, r = ((flags >> 4) & 0x3) + 1, flags & 0xF
        fixed = head[8]
    else:
        _check(flags & 0x3 == 0, "reserved bits of byte 1 are set")
        if flags & 0x20:
            _check(flags & 0xDC == 0x80, "a keep-alive has Q set and no parity or frames")
            rd.end()
            _check(head[8] <= MAX_LEVEL, f"keep-alive level {head[8]} not in 0..{MAX_LEVEL}")
            return Packet(frames=(), quiet=True, level=head[8], **common)
        n, r = ((flags >> 2) & 0x7) + 1, head[8]
        _check(r <= MAX_REDUNDANT, f"{r} redundant frames, at most {MAX_REDUNDANT}")
        fixed = rd.take(1, "L")[0]
    if fixed:
        lengths = [fixed] * (r + n)
    else:
        lengths = [rd.varint(f"length of frame {i}") for i in range(r + n)]
        _check(not (1 <= lengths[0] <= 255 and len(set(lengths)) == 1),
               "frame lengths are all equal but L is 0 (non-canonical)")
    frames = [rd.take(length, f"frame {i}") for i, length in enumerate(lengths)]
    parity: list[ParityBlock] = []
    if flags & 0x40:
        count = rd.varint("parity block count")
        _check(1 <= count <= MAX_PARITY_BLOCKS,
               f"parity block count {count} not in 1..{MAX_PARITY_BLOCKS}")
        for i in range(count):
            back, stride, covered, length_xor, size = (
                rd.varint(f"parity block {i} {name}")
                for name in ("offset", "stride", "count", "length_xor", "size"))
            parity.append(ParityBlock((timestamp - back) % TS_MOD, stride, covered, length_xor,
                                      rd.take(size, f"parity block {i} payload")))
    rd.end()
    return Packet(frames=tuple(frames[r:]), redundant=tuple(frames[:r]), parity=tuple(parity),
                  quiet=bool(flags & 0x80), **common)
