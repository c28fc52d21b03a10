"""Media packet wire format: vectors, exact errors, round-trip properties."""
from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transport.packet import (MAX_PARITY_STRIDE, MAX_PRIMARY, MAX_REDUNDANT, TS_MOD, Packet,
                              PacketError, ParityBlock, parse_packet)

VECTORS = json.loads((Path(__file__).parent / "vectors" / "packets.json").read_text())


def from_fields(f: dict) -> Packet:
    return Packet(payload_type=f["payload_type"], seq=f["seq"], timestamp=f["timestamp"],
                  sender=f["sender"], quiet=f["quiet"],
                  frames=tuple(bytes.fromhex(x) for x in f["frames"]),
                  redundant=tuple(bytes.fromhex(x) for x in f["redundant"]),
                  parity=tuple(ParityBlock(b["start"], b["stride"], b["count"], b["length_xor"],
                                           bytes.fromhex(b["payload"])) for b in f["parity"]),
                  version=f.get("version", 1), level=f.get("level"))


@pytest.mark.parametrize("case", VECTORS["valid"], ids=lambda c: c["name"])
def test_vector_round_trip(case: dict) -> None:
    packet = from_fields(case["fields"])
    data = bytes.fromhex(case["hex"])
    assert packet.to_bytes() == data
    assert parse_packet(data) == packet


@pytest.mark.parametrize("case", VECTORS["invalid"], ids=lambda c: c["name"])
def test_vector_rejected(case: dict) -> None:
    with pytest.raises(PacketError, match=case["error"]):
        parse_packet(bytes.fromhex(case["hex"]))


def test_layout_built_by_hand() -> None:
    # Independent of the encoder: version 1 / PT 16, N=2 R=1, seq 513, ts 1000, sender 255,
    # varint lengths 0, 3, 130 (0x82 0x01).
    data = (struct.pack("!BBH", 0x40 | 16, (1 << 4) | 1, 513) + (1000).to_bytes(3, "big")
            + bytes([255, 0, 0, 3, 0x82, 0x01]) + b"\x01" * 3 + b"\x02" * 130)
    p = parse_packet(data)
    assert (p.payload_type, p.seq, p.timestamp, p.sender) == (16, 513, 1000, 255)
    assert p.redundant == (b"",) and p.frames == (b"\x01" * 3, b"\x02" * 130)
    assert not p.quiet and p.parity == ()
    assert list(p.items()) == [(999, b"", False), (1000, b"\x01" * 3, True), (1001, b"\x02" * 130, True)]


@pytest.mark.parametrize("case", VECTORS["valid"], ids=lambda c: c["name"])
def test_every_truncation_is_a_packet_error(case: dict) -> None:
    data = bytes.fromhex(case["hex"])
    for n in range(len(data)):
        with pytest.raises(PacketError, match="truncated"):
            parse_packet(data[:n])


def test_non_bytes_input() -> None:
    with pytest.raises(PacketError, match="expected bytes, got str"):
        parse_packet("41000000")  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs, message", [
    (dict(frames=()), "0 primary frames"),
    (dict(frames=(b"a",) * 5), "5 primary frames"),
    (dict(redundant=(b"a",) * 16), "16 redundant frames"),
    (dict(payload_type=64), "payload type 64"),
    (dict(seq=65536), "sequence number"),
    (dict(timestamp=TS_MOD), "timestamp"),
    (dict(sender=256), "sender id 256"),
    (dict(frames=(bytes(70000),)), "too long"),
])
def test_builder_validates(kwargs: dict, message: str) -> None:
    args = dict(payload_type=1, seq=0, timestamp=0, sender=0, frames=(b"ab",)) | kwargs
    with pytest.raises(PacketError, match=message):
        Packet(**args)


def test_wrapping_timestamps_in_items() -> None:
    p = Packet(1, 0, 1, 0, (b"x",), (b"a", b"b", b"c"))
    assert [ts for ts, _, _ in p.items()] == [TS_MOD - 2, TS_MOD - 1, 0, 1]


frames_st = st.lists(st.binary(max_size=40), min_size=1, max_size=MAX_PRIMARY)
parity_st = st.builds(ParityBlock, start=st.integers(0, TS_MOD - 1),
                      stride=st.integers(1, MAX_PARITY_STRIDE), count=st.integers(1, 64),
                      length_xor=st.integers(0, 0xFFFF), payload=st.binary(max_size=20))


@st.composite
def packets(draw: st.DrawFn) -> Packet:
    ts = draw(st.integers(0, TS_MOD - 1))
    blocks = draw(st.lists(parity_st, max_size=3))
    # keep parity blocks within the encodable distance before the packet
    blocks = [ParityBlock((ts - b.start % 0x10000) % TS_MOD, b.stride, b.count, b.length_xor, b.payload)
              for b in blocks]
    fixed = draw(st.booleans())
    n = draw(st.integers(1, MAX_PRIMARY))
    r = draw(st.integers(0, MAX_REDUNDANT))
    if fixed:
        size = draw(st.integers(1, 8))
        frame = st.binary(min_size=size, max_size=size)
        prim, red = draw(st.lists(frame, min_size=n, max_size=n)), draw(st.lists(frame, min_size=r, max_size=r))
    else:
        prim, red = draw(frames_st), draw(st.lists(st.binary(max_size=300), max_size=MAX_REDUNDANT))
    return Packet(draw(st.integers(0, 63)), draw(st.integers(0, 0xFFFF)), ts, draw(st.integers(0, 255)),
                  tuple(prim), tuple(red), tuple(blocks), draw(st.booleans()))


@settings(max_examples=300, deadline=None)
@given(packets())
def test_build_parse_round_trip(packet: Packet) -> None:
    data = packet.to_bytes()
    assert parse_packet(data) == packet
    assert parse_packet(data).to_bytes() == data


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=80))
def test_arbitrary_bytes_raise_only_packet_error(data: bytes) -> None:
    try:
        packet = parse_packet(data)
    except PacketError:
        return
    assert packet.to_bytes() == data  # anything accepted is canonical


@settings(max_examples=500, deadline=None)
@given(packets(), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4))
def test_mutated_packets_are_rejected_or_canonical(packet: Packet, edits: list) -> None:
    data = bytearray(packet.to_bytes())
    for pos, value in edits:
        data[pos % len(data)] = value
    try:
        parsed = parse_packet(bytes(data))
    except PacketError:
        return
    assert parsed.to_bytes() == bytes(data)
