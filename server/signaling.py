"""The signaling protocol: JSON messages over one WebSocket per participant.

Client → server::

    {"type": "join", "room": "standup", "name": "Ada"}
    {"type": "offer", "sdp": "v=0..."}          # after "joined"; data channels "audio" + "control"
    {"type": "leave"}

Server → client::

    {"type": "joined", "id": 1, "room": "standup", "participants": [{"id": 2, "name": "Bo"}],
     "iceServers": [...]}
    {"type": "answer", "sdp": "v=0..."}
    {"type": "peer-joined", "id": 2, "name": "Bo"}   {"type": "peer-left", "id": 2}
    {"type": "error", "code": "bad-json", "message": "..."}   {"type": "left"}

Parsing is synchronous and raises :class:`SignalingError` with a code and a message that
says what was wrong; the server answers with an ``error`` message and keeps the socket.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MAX_MESSAGE_BYTES = 64 * 1024
MAX_SDP_CHARS = 32 * 1024

# Required fields and their types, per client message type.
CLIENT_MESSAGES: dict[str, dict[str, type]] = {
    "join": {"room": str, "name": str},
    "offer": {"sdp": str},
    "leave": {},
}


class SignalingError(ValueError):
    """A client message that cannot be handled; ``code`` is machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ClientMessage:
    """A validated client message: its type and fields."""

    type: str
    fields: dict[str, Any]


def parse_client_message(text: str | bytes) -> ClientMessage:
    """Validate one WebSocket message from a client."""
    size = len(text.encode() if isinstance(text, str) else text)
    if size > MAX_MESSAGE_BYTES:
        raise SignalingError("too-large", f"message of {size} bytes exceeds the {MAX_MESSAGE_BYTES}-byte limit")
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SignalingError("bad-json", f"message is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SignalingError("bad-message", "message must be a JSON object")
    kind = data.get("type")
    if kind not in CLIENT_MESSAGES:
        known = ", ".join(sorted(CLIENT_MESSAGES))
        raise SignalingError("unknown-type", f"unknown message type {kind!r} (expected one of: {known})")
    fields = {}
    for name, typ in CLIENT_MESSAGES[kind].items():
        if name not in data:
            raise SignalingError("missing-field", f"{kind!r} message lacks the {name!r} field")
        if not isinstance(data[name], typ):
            raise SignalingError("bad-field", f"{kind!r} field {name!r} must be a {typ.__name__}")
        fields[name] = data[name]
    if kind == "offer" and len(fields["sdp"]) > MAX_SDP_CHARS:
        raise SignalingError("bad-field", f"SDP longer than {MAX_SDP_CHARS} characters")
    return ClientMessage(kind, fields)


def error_message(code: str, message: str) -> dict[str, Any]:
    """The server's reply to a message it could not handle."""
    return {"type": "error", "code": code, "message": message}
