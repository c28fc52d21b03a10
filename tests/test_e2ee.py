"""Sealed packets (transport.e2ee): shared vectors, replay window, sessions, fuzzing."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transport.e2ee import (SEAL_OVERHEAD, SEALED_HEADER_SIZE, E2eeError, Keyring, Opener, Sealer, decode_key,
                            format_key, is_sealed, new_key, parse_sealed_header)
from transport.packet import Packet, PacketError, parse_packet

VECTORS = json.loads((Path(__file__).parent / "vectors" / "e2ee.json").read_text())
RING = Keyring.parse(VECTORS["keys"])


def fixed(session_hex: str):
    return lambda n: bytes.fromhex(session_hex)


@pytest.mark.parametrize("case", VECTORS["valid"], ids=lambda c: c["name"])
def test_vectors_seal_and_open_exactly(case: dict) -> None:
    plain, sealed = bytes.fromhex(case["plain"]), bytes.fromhex(case["sealed"])
    assert RING.current_epoch == case["epoch"]
    assert Sealer(RING, random=fixed(case["session"])).seal(plain) == sealed
    assert len(sealed) == len(plain) + SEAL_OVERHEAD
    assert Opener(RING).open(sealed) == plain
    header = parse_sealed_header(sealed)
    packet = parse_packet(plain)
    assert (header.payload_type, header.seq, header.timestamp, header.sender, header.epoch, header.session.hex()) == \
        (packet.payload_type, packet.seq, packet.timestamp, packet.sender, case["epoch"], case["session"])


@pytest.mark.parametrize("case", VECTORS["invalid"], ids=lambda c: c["name"])
def test_vectors_rejected_with_their_reason(case: dict) -> None:
    with pytest.raises(E2eeError, match=case["error"]) as caught:
        Opener(RING).open(bytes.fromhex(case["hex"]))
    assert caught.value.reason == case["reason"]
    assert isinstance(caught.value, PacketError)  # one error type for all malformed input


def test_replay_window_vectors() -> None:
    opener = Opener(RING)
    for step in VECTORS["replay"]:
        data = bytes.fromhex(step["hex"])
        if step["expect"] == "ok":
            assert opener.open(data) == bytes.fromhex(step["plain"])
        else:
            with pytest.raises(E2eeError) as caught:
                opener.open(data)
            assert caught.value.reason == "replayed"


def test_a_forged_packet_does_not_poison_the_replay_window() -> None:
    sealer, opener = Sealer(RING), Opener(RING)
    packets = [sealer.seal(_plain(seq)) for seq in range(5)]
    forged = bytearray(packets[4])
    forged[-1] ^= 0xFF
    assert opener.open(packets[0])
    with pytest.raises(E2eeError, match="authentication"):
        opener.open(bytes(forged))
    assert opener.open(packets[4]) == _plain(4)  # the real one still opens


def test_sessions_follow_the_sequence() -> None:
    drawn = iter(bytes([i]) * 6 for i in range(1, 100))
    sealer = Sealer(RING, random=lambda n: next(drawn))
    first = [parse_sealed_header(sealer.seal(_plain(seq))).session for seq in (10, 11, 12)]
    assert first == [b"\x01" * 6] * 3
    # a packetizer restarted at an earlier sequence number must not reuse (session, seq) nonces
    assert parse_sealed_header(sealer.seal(_plain(10))).session == b"\x02" * 6
    assert parse_sealed_header(sealer.seal(_plain(65535))).session == b"\x03" * 6
    assert parse_sealed_header(sealer.seal(_plain(0))).session == b"\x03" * 6  # wraps inside a session


def test_a_session_never_spans_more_than_the_sequence_space() -> None:
    drawn = iter(bytes([i]) * 6 for i in range(1, 100))
    sealer = Sealer(RING, random=lambda n: next(drawn))
    sessions = {parse_sealed_header(sealer.seal(_plain(seq % 65536))).session for seq in range(65536 + 3)}
    assert sessions == {b"\x01" * 6, b"\x02" * 6}


def test_two_senders_and_restarted_sessions_open_independently() -> None:
    opener = Opener(RING)
    a, b, a_again = Sealer(RING), Sealer(RING), Sealer(RING)
    for seq in range(3):
        assert parse_packet(opener.open(a.seal(_plain(seq, sender=1)))).sender == 1
        assert parse_packet(opener.open(b.seal(_plain(seq, sender=2)))).sender == 2
    # the same sender id after a reconnect (new session) with sequence numbers seen before
    assert parse_packet(opener.open(a_again.seal(_plain(0, sender=1)))).seq == 0


def test_keyring_text_and_errors() -> None:
    key = new_key()
    ring = Keyring.parse(f"# room keys\n{format_key(key, 3)}\n\n{format_key(new_key(), 9)}  # newest\n")
    assert ring.current_epoch == 9
    assert Keyring.parse(format_key(key, 0).split(":", 1)[1]).current_epoch == 0  # bare key: epoch 0
    assert decode_key(format_key(key).split(":")[1]) == key
    for text, message in [("", "no room key"), ("1:abc", "43 base64url"), ("300:" + "A" * 43, "0..255"),
                          ("x:" + "A" * 43, "epoch must be a number"), ("A" * 42 + "!", "base64url"),
                          (f"{format_key(key, 1)}\n{format_key(key, 1)}", "two keys for epoch 1")]:
        with pytest.raises(ValueError, match=message):
            Keyring.parse(text)


def test_sealing_needs_a_plain_packet() -> None:
    sealed = Sealer(RING).seal(_plain(1))
    assert is_sealed(sealed) and not is_sealed(_plain(1))
    with pytest.raises(ValueError, match="plain"):
        Sealer(RING).seal(sealed)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=80))
def test_opening_arbitrary_bytes_raises_only_e2ee_errors(data: bytes) -> None:
    try:
        Opener(RING).open(data)
    except E2eeError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 65535), st.integers(0, (1 << 24) - 1), st.integers(0, 255),
       st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=4), st.data())
def test_seal_open_round_trip_and_any_flipped_bit_is_caught(seq, ts, sender, frames, data) -> None:
    plain = Packet(1, seq, ts, sender, frames=tuple(frames)).to_bytes()
    sealed = Sealer(RING).seal(plain)
    assert Opener(RING).open(sealed) == plain
    bit = data.draw(st.integers(0, 8 * len(sealed) - 1))
    altered = bytearray(sealed)
    altered[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(E2eeError) as caught:
        Opener(RING).open(bytes(altered))
    assert caught.value.reason in ("undecryptable", "unknown-key", "malformed", "unencrypted")
    if bit >= 8 * SEALED_HEADER_SIZE or 16 <= bit < 8 * SEALED_HEADER_SIZE and bit // 8 != 8:
        assert caught.value.reason == "undecryptable"


def _plain(seq: int, sender: int = 1) -> bytes:
    return Packet(1, seq, 2 * seq, sender, frames=(b"\x01\x02", b"\x03\x04")).to_bytes()
