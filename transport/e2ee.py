"""End-to-end encryption of media packets with a room key the server never sees.

A sealed packet keeps the 8-byte media header readable (the relay checks the sender id and
counts packets) but authenticated, and hides everything after it (frame lengths, frames,
parity) with AES-128-GCM. Layout (transport/README.md, "Sealed packet")::

    0-7    the media header with V = 2: PT, Q/P/N/R flags, sequence, timestamp, sender
    8      key epoch (which room key sealed it)
    9-14   session: 48 random bits the sender draws when it starts, and again before its
           16-bit sequence number would repeat
    15..   AES-128-GCM ciphertext of the plain packet's bytes 8.., then the 16-byte tag

The additional data is bytes 0-14; the nonce is sender id | session | 0 0 0 | sequence, so
it never repeats under one key as long as a (sender id, session) pair is never drawn twice
(48 random bits: about one chance in 2^48 per pair of sessions of the same sender id). The
packet key is HKDF-SHA256(room key, salt "focalcall e2ee v1", info "packet key" | epoch).
Receivers drop replays with a 128-packet window per (sender, session), remembering the last
few sessions of each sender id. Everything is synchronous and needs no sockets.
"""
from __future__ import annotations

import base64
import binascii
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from transport.packet import HEADER_SIZE, SEQ_MOD, VERSION, VERSIONS, PacketError

SEALED_VERSION = 2
SESSION_BYTES = 6
TAG_BYTES = 16
SEALED_HEADER_SIZE = HEADER_SIZE + 1 + SESSION_BYTES  # 15: authenticated, readable
SEAL_OVERHEAD = SEALED_HEADER_SIZE - HEADER_SIZE + TAG_BYTES  # 23 bytes more than the plain packet
KEY_BYTES = 32
REPLAY_WINDOW = 128  # packets behind the newest one still accepted (reordering)
SESSIONS_PER_SENDER = 8  # sessions remembered per sender id for replay checks
_SALT = b"focalcall e2ee v1"
_INFO = b"packet key"


class E2eeError(PacketError):
    """A sealed packet that cannot be opened. ``reason`` is one of ``unencrypted``,
    ``unknown-key``, ``undecryptable`` (wrong key or tampered), ``replayed``, ``malformed``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class SealedHeader:
    """What a relay can read of a sealed packet (all of it authenticated)."""

    payload_type: int
    seq: int
    timestamp: int
    sender: int
    epoch: int
    session: bytes


def is_sealed(data: bytes) -> bool:
    """Whether ``data`` claims to be a sealed packet (version 2)."""
    return len(data) > 0 and data[0] >> 6 == SEALED_VERSION


def parse_sealed_header(data: bytes) -> SealedHeader:
    """The readable header of a sealed packet; :class:`E2eeError` if it cannot be one."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise E2eeError("malformed", f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if data and data[0] >> 6 != SEALED_VERSION:
        raise E2eeError("unencrypted" if data[0] >> 6 in VERSIONS else "malformed",
                        f"packet version {data[0] >> 6} is not a sealed packet ({SEALED_VERSION})")
    if len(data) < SEALED_HEADER_SIZE + TAG_BYTES + 1:
        raise E2eeError("malformed", f"sealed packet of {len(data)} bytes is shorter than the "
                                     f"{SEALED_HEADER_SIZE + TAG_BYTES + 1}-byte minimum")
    return SealedHeader(payload_type=data[0] & 0x3F, seq=int.from_bytes(data[2:4], "big"),
                        timestamp=int.from_bytes(data[4:7], "big"), sender=data[7], epoch=data[8],
                        session=data[9:SEALED_HEADER_SIZE])


def packet_key(room_key: bytes, epoch: int) -> bytes:
    """The 16-byte AES-GCM key of ``epoch`` derived from a 32-byte room key."""
    return HKDF(hashes.SHA256(), 16, _SALT, _INFO + bytes([epoch])).derive(room_key)


def _nonce(sender: int, session: bytes, seq: int) -> bytes:
    return bytes([sender]) + session + b"\0\0\0" + seq.to_bytes(2, "big")


class Keyring:
    """Room keys by epoch (0..255); senders seal with the newest, receivers open any."""

    def __init__(self, keys: dict[int, bytes]) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        for epoch, key in keys.items():
            if not 0 <= epoch <= 255:
                raise ValueError(f"key epoch {epoch} not in 0..255")
            if len(key) != KEY_BYTES:
                raise ValueError(f"a room key is {KEY_BYTES} bytes, got {len(key)}")
        self._ciphers = {epoch: AESGCM(packet_key(key, epoch)) for epoch, key in keys.items()}
        self.current_epoch = max(keys)

    @classmethod
    def parse(cls, text: str) -> "Keyring":
        """Keys from text: one per line (or ``,``-separated) as ``EPOCH:BASE64URL`` or a bare
        ``BASE64URL`` (epoch 0); blank lines and ``#`` comments are ignored."""
        keys: dict[int, bytes] = {}
        for line in text.replace(",", "\n").splitlines():
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            epoch_text, _, encoded = line.rpartition(":")
            if not epoch_text:
                epoch = 0
            elif epoch_text.isdigit() and int(epoch_text) <= 255:
                epoch = int(epoch_text)
            else:
                raise ValueError(f"key epoch must be a number 0..255 (got {epoch_text!r})")
            if epoch in keys:
                raise ValueError(f"two keys for epoch {epoch}")
            keys[epoch] = decode_key(encoded)
        if not keys:
            raise ValueError("no room key found (expected EPOCH:BASE64URL)")
        return cls(keys)

    def cipher(self, epoch: int) -> AESGCM:
        """The AEAD of ``epoch``; :class:`E2eeError` (``unknown-key``) if not held."""
        try:
            return self._ciphers[epoch]
        except KeyError:
            raise E2eeError("unknown-key", f"no room key for epoch {epoch}") from None


def decode_key(encoded: str) -> bytes:
    """A 32-byte room key from unpadded base64url; ``ValueError`` saying what is wrong."""
    if not encoded or any(c not in _B64URL for c in encoded):
        raise ValueError("a room key is 43 characters of base64url (A-Z a-z 0-9 - _)")
    try:
        key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("a room key is 43 characters of base64url") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"a room key is {KEY_BYTES} bytes (43 base64url characters), got {len(key)} bytes")
    return key


def format_key(key: bytes, epoch: int = 0) -> str:
    """``EPOCH:BASE64URL`` (unpadded), the form :meth:`Keyring.parse` and the page read."""
    return f"{epoch}:{base64.urlsafe_b64encode(key).rstrip(b'=').decode()}"


def new_key() -> bytes:
    """A fresh random room key."""
    return os.urandom(KEY_BYTES)


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class Sealer:
    """Seals one sender's packets. A session holds consecutive sequence numbers only: a new
    one is drawn at the first packet, whenever the sequence does not follow the previous
    packet's (a restarted packetizer), and before it could wrap; so no nonce is used twice.
    Send a packet again as the same sealed bytes, never by sealing it twice."""

    def __init__(self, keyring: Keyring, random: Callable[[int], bytes] = os.urandom) -> None:
        self.keyring = keyring
        self._random = random
        self._session: bytes | None = None
        self._sent_in_session = 0
        self._last_seq = 0

    @property
    def session(self) -> bytes | None:
        """The current session (``None`` before the first packet)."""
        return self._session

    def seal(self, packet: bytes) -> bytes:
        """A plain (version 1) packet, sealed with the newest key."""
        packet = bytes(packet)
        if len(packet) <= HEADER_SIZE or packet[0] >> 6 != VERSION:
            raise ValueError("seal() takes a plain (version 1) media packet")
        seq = int.from_bytes(packet[2:4], "big")
        if (self._session is None or seq != (self._last_seq + 1) % SEQ_MOD
                or self._sent_in_session >= SEQ_MOD - 1):
            self._session, self._sent_in_session = self._random(SESSION_BYTES), 0
        self._sent_in_session += 1
        self._last_seq = seq
        epoch = self.keyring.current_epoch
        header = bytes([(SEALED_VERSION << 6) | (packet[0] & 0x3F)]) + packet[1:HEADER_SIZE] \
            + bytes([epoch]) + self._session
        nonce = _nonce(packet[7], self._session, seq)
        return header + self.keyring.cipher(epoch).encrypt(nonce, packet[HEADER_SIZE:], header)


class _ReplayWindow:
    """Sequence numbers seen in one session: the newest (unwrapped) and a bit per packet
    within :data:`REPLAY_WINDOW` behind it."""

    def __init__(self, seq: int) -> None:
        self.high, self.seen = seq, 1

    def _position(self, seq: int) -> int:
        delta = (seq - self.high) % SEQ_MOD
        return delta - SEQ_MOD if delta >= SEQ_MOD // 2 else delta

    def check(self, seq: int) -> None:
        offset = self._position(seq)
        if offset <= -REPLAY_WINDOW:
            raise E2eeError("replayed", f"sequence {seq} is older than the replay window")
        if offset <= 0 and self.seen >> -offset & 1:
            raise E2eeError("replayed", f"sequence {seq} was already received")

    def accept(self, seq: int) -> None:
        offset = self._position(seq)
        if offset > 0:
            self.seen = (self.seen << offset | 1) & ((1 << REPLAY_WINDOW) - 1)
            self.high = seq
        else:
            self.seen |= 1 << -offset


class Opener:
    """Opens sealed packets from any sender of the room; keeps the replay windows."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self._windows: dict[int, OrderedDict[bytes, _ReplayWindow]] = {}

    def open(self, data: bytes) -> bytes:
        """The plain (version 1) packet inside ``data``; :class:`E2eeError` if it is not a
        sealed packet, no key of its epoch is held, it fails authentication or is a replay.
        The result is not parsed: a key holder could still seal garbage."""
        header = parse_sealed_header(data)
        data = bytes(data)
        aad = data[:SEALED_HEADER_SIZE]
        sessions = self._windows.get(header.sender)
        window = sessions.get(header.session) if sessions is not None else None
        if window is not None:
            window.check(header.seq)
        cipher = self.keyring.cipher(header.epoch)
        try:
            body = cipher.decrypt(_nonce(header.sender, header.session, header.seq),
                                  data[SEALED_HEADER_SIZE:], aad)
        except InvalidTag:
            raise E2eeError("undecryptable", "the packet failed authentication "
                                             "(another room key, or it was altered)") from None
        if window is None:  # only an authentic packet may start a session
            sessions = self._windows.setdefault(header.sender, OrderedDict())
            window = sessions[header.session] = _ReplayWindow(header.seq)
            if len(sessions) > SESSIONS_PER_SENDER:
                sessions.popitem(last=False)
        else:
            window.accept(header.seq)
            sessions.move_to_end(header.session)
        return bytes([(VERSION << 6) | header.payload_type]) + data[1:HEADER_SIZE] + body
