"""The signaling protocol: JSON messages over one WebSocket per participant.

Client → server::

    {"type": "join", "room": "standup", "name": "Ada", "token": "eyJ..."}   # token: see tokens.py
    {"type": "offer", "sdp": "v=0..."}          # after "joined"; data channels "audio" + "control"
    {"type": "leave"}

Server → client::

    {"type": "joined", "id": 1, "room": "standup", "name": "Ada",
     "participants": [{"id": 2, "name": "Bo"}], "iceServers": [...]}
    {"type": "answer", "sdp": "v=0..."}
    {"type": "peer-joined", "id": 2, "name": "Bo"}   {"type": "peer-left", "id": 2}
    {"type": "error", "code": "bad-json", "message": "..."}   {"type": "left"}
    {"type": "draining", "message": "..."}       # the server is shutting down: reconnect later

``joined`` carries the name the others see (the token's, or the requested one with a number
added when someone in the room already uses it). Errors that end the session (``unauthorized``,
``replaced``, ``join-timeout``, ``connect-timeout``, ``rate-limited``) are followed by the
socket closing. Parsing is synchronous and raises :class:`SignalingError` with a code and a
message that says what was wrong; the server answers with an ``error`` message.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MAX_MESSAGE_BYTES = 64 * 1024
MAX_SDP_BYTES = 16 * 1024
MAX_JSON_DEPTH = 4
MAX_SDP_LINES = 256

# Required and optional fields and their types, per client message type.
CLIENT_MESSAGES: dict[str, dict[str, type]] = {
    "join": {"room": str, "name": str},
    "offer": {"sdp": str},
    "leave": {},
}
OPTIONAL_FIELDS: dict[str, dict[str, type]] = {"join": {"token": str}}


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


def parse_client_message(text: str | bytes, max_bytes: int = MAX_MESSAGE_BYTES, max_depth: int = MAX_JSON_DEPTH,
                         max_sdp_bytes: int = MAX_SDP_BYTES) -> ClientMessage:
    """Validate one WebSocket message from a client (:class:`SignalingError` for anything wrong)."""
    size = len(text.encode(errors="replace") if isinstance(text, str) else text)
    if size > max_bytes:
        raise SignalingError("too-large", f"message of {size} bytes exceeds the {max_bytes}-byte limit")
    try:
        data = json.loads(text)
    except RecursionError:
        raise SignalingError("too-deep", f"JSON nested deeper than {max_depth} levels") from None
    except (ValueError, TypeError) as exc:  # JSONDecodeError, bad UTF-8, lone surrogates
        raise SignalingError("bad-json", f"message is not valid JSON: {exc}") from None
    if json_depth(data) > max_depth:
        raise SignalingError("too-deep", f"JSON nested deeper than {max_depth} levels")
    if not isinstance(data, dict):
        raise SignalingError("bad-message", "message must be a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in CLIENT_MESSAGES:
        known = ", ".join(sorted(CLIENT_MESSAGES))
        raise SignalingError("unknown-type", f"unknown message type {_short(kind)} (expected one of: {known})")
    fields = {}
    for name, typ in CLIENT_MESSAGES[kind].items():
        if name not in data:
            raise SignalingError("missing-field", f"{kind!r} message lacks the {name!r} field")
        fields[name] = _typed(kind, name, data[name], typ)
    for name, typ in OPTIONAL_FIELDS.get(kind, {}).items():
        if data.get(name) is not None:
            fields[name] = _typed(kind, name, data[name], typ)
    if kind == "offer" and len(fields["sdp"]) > max_sdp_bytes:
        raise SignalingError("bad-sdp", f"SDP longer than {max_sdp_bytes} characters")
    return ClientMessage(kind, fields)


def json_depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0, ``{}`` is 1)."""
    depth, level = 0, [(value, 1)]
    while level:
        item, d = level.pop()
        if isinstance(item, dict):
            depth = max(depth, d)
            level.extend((v, d + 1) for v in item.values())
        elif isinstance(item, list):
            depth = max(depth, d)
            level.extend((v, d + 1) for v in item)
    return depth


def check_offer_sdp(sdp: str) -> None:
    """Reject an offer that cannot be a WebRTC data-channel offer before aiortc sees it: not
    printable ASCII lines of ``x=...``, not starting with ``v=0``, or without exactly one
    ``m=application`` section. (Its size is checked when the message is parsed.)"""
    if not sdp.isascii():
        raise SignalingError("bad-sdp", "SDP must be ASCII")
    lines = [line for line in sdp.replace("\r\n", "\n").split("\n") if line]
    if len(lines) > MAX_SDP_LINES:
        raise SignalingError("bad-sdp", f"SDP has more than {MAX_SDP_LINES} lines")
    if not lines or lines[0] != "v=0":
        raise SignalingError("bad-sdp", "SDP must start with 'v=0'")
    for number, line in enumerate(lines, 1):
        if len(line) < 2 or not ("a" <= line[0] <= "z") or line[1] != "=" or not line.isprintable():
            raise SignalingError("bad-sdp", f"SDP line {number} is not of the form 'x=value' in printable ASCII")
    sections = [line for line in lines if line.startswith("m=")]
    if [s.split(" ", 1)[0] for s in sections] != ["m=application"]:
        raise SignalingError("bad-sdp", "the offer must have exactly one media section, m=application "
                                        "(the data channels)")


def error_message(code: str, message: str) -> dict[str, Any]:
    """The server's reply to a message it could not handle."""
    return {"type": "error", "code": code, "message": message}


def _typed(kind: str, name: str, value: Any, typ: type) -> Any:
    if not isinstance(value, typ):
        raise SignalingError("bad-field", f"{kind!r} field {name!r} must be a {typ.__name__}")
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
