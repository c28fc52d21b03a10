"""transport/relay_header.py: what the relay reads, against the full parsers."""
from __future__ import annotations

import pytest

from transport import Packet, PacketError, parse_packet
from transport.e2ee import Keyring, Sealer, format_key, new_key, parse_sealed_header
from transport.relay_header import MAX_RELAYED_BYTES, RELAYED_VERSIONS, is_keepalive, relay_header

PACKETS = [
    Packet(payload_type=12, seq=7, timestamp=14, sender=3, frames=(b"\xab\xcd", b"\x12\x34")),
    Packet(payload_type=63, seq=65535, timestamp=2 ** 24 - 1, sender=255, frames=(b"",)),
    Packet(payload_type=0, seq=0, timestamp=0, sender=0, frames=(b"x" * 300,), redundant=(b"y", b"zz")),
]


@pytest.mark.parametrize("packet", PACKETS)
def test_plain_header_matches_the_full_parse(packet: Packet) -> None:
    data = packet.to_bytes()
    parsed = parse_packet(data)
    assert relay_header(data) == (parsed.payload_type, parsed.seq, parsed.sender)


@pytest.mark.parametrize("packet", PACKETS)
def test_sealed_header_matches_the_sealed_parse(packet: Packet) -> None:
    sealed = Sealer(Keyring.parse(format_key(new_key(), 1))).seal(packet.to_bytes())
    parsed = parse_sealed_header(sealed)
    assert relay_header(sealed) == (parsed.payload_type, parsed.seq, parsed.sender)


def test_shortest_packets_of_each_version() -> None:
    assert len(PACKETS[1].to_bytes()) == RELAYED_VERSIONS[1]  # one empty frame: header, L, one varint
    for version, shortest in RELAYED_VERSIONS.items():
        data = bytes([version << 6 | 5, 0, 1, 2, 0, 0, 0, 9]) + b"\0" * (shortest - 8)
        assert relay_header(data) == (5, 0x0102, 9)
        with pytest.raises(PacketError, match="shorter"):
            relay_header(data[:-1])


def test_version_3_is_relayed_and_version_0_is_not() -> None:
    assert relay_header(bytes([0xC0 | 7]) + bytes(range(1, 10))) == (7, 0x0203, 7)
    with pytest.raises(PacketError, match="version 0 is not relayed"):
        relay_header(bytes(10))


def test_version_3_keepalives_are_relayed_and_told_apart() -> None:
    keepalive = Packet(payload_type=12, seq=8, timestamp=16, sender=3, frames=(), quiet=True,
                       version=3, level=50).to_bytes()
    speech = Packet(payload_type=12, seq=9, timestamp=16, sender=3, frames=(b"ab",) * 5, version=3).to_bytes()
    assert relay_header(keepalive) == (12, 8, 3)
    assert is_keepalive(keepalive)
    assert not is_keepalive(speech) and not is_keepalive(PACKETS[0].to_bytes())


@pytest.mark.parametrize("data", [b"", b"\x41", bytes([0x41]) + b"\0" * MAX_RELAYED_BYTES])
def test_lengths_out_of_bounds(data: bytes) -> None:
    with pytest.raises(PacketError):
        relay_header(data)
