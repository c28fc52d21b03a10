"""The client's end of the signaling WebSocket (protocol in server/signaling.py's docstring).

Messages from the server are checked like any network input: a message that is not the
expected shape is logged and ignored (a ``joined`` or ``answer`` that is malformed fails its
request), and nothing in one can raise out of the reader.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

import aiohttp

logger = logging.getLogger(__name__)

# Refusals that retrying cannot fix: the client gives up at once instead of reconnecting.
FATAL_CODES = frozenset({"unauthorized", "bad-room", "bad-name", "replaced"})
# Refusals the server marks as passing ("reconnect shortly": a node failing over, a worker
# restarting, a server draining): even a first connection retries them.
TRY_AGAIN_CODE = "unavailable"
HEARTBEAT_S = 3.0  # ping the server this often; no answer within half of it ends the connection
MAX_SERVER_MESSAGE = 1 << 20


class SignalingFailed(RuntimeError):
    """The server refused a request or the connection failed; the message says why.
    ``code`` is the server's error code, if it sent one; ``fatal`` says retrying is pointless,
    ``passing`` that the server asked us to try again shortly."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.fatal = code in FATAL_CODES
        self.passing = code == TRY_AGAIN_CODE


def websocket_url(server_url: str) -> str:
    """``http://host:port/`` → ``ws://host:port/ws`` (``https`` → ``wss``)."""
    parts = urlsplit(server_url)
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.netloc:
        raise ValueError(f"server URL must look like http://HOST:PORT (got {server_url!r})")
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path if parts.path.endswith("/ws") else parts.path.rstrip("/") + "/ws"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


class SignalingClient:
    """Joins a room, exchanges SDP, and reports room events through ``on_event(message)``:
    ``peer-joined``, ``peer-left``, ``draining``, an ``error`` the server sent unasked (the
    session is ending), and finally ``{"type": "disconnected"}``."""

    def __init__(self, server_url: str, on_event: Callable[[dict[str, Any]], None],
                 heartbeat_s: float = HEARTBEAT_S) -> None:
        self.url = websocket_url(server_url)
        self.heartbeat_s = heartbeat_s
        self._on_event = on_event
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task | None = None
        self._pending: asyncio.Future[dict[str, Any]] | None = None
        self._closed_reason = "the server closed the connection"

    async def connect(self, timeout: float = 10.0) -> None:
        """Open the WebSocket."""
        self._session = aiohttp.ClientSession()
        try:
            self._ws = await asyncio.wait_for(self._session.ws_connect(
                self.url, heartbeat=self.heartbeat_s, max_msg_size=MAX_SERVER_MESSAGE,
                timeout=aiohttp.ClientWSTimeout(ws_close=2.0)), timeout)
        except aiohttp.WSServerHandshakeError as exc:
            await self._session.close()
            # 503: the server is draining (or has no worker yet) and says to come back shortly.
            raise SignalingFailed(f"the server at {self.url} refused the connection: {exc.status} {exc.message}",
                                  TRY_AGAIN_CODE if exc.status == 503 else None) from None
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            await self._session.close()
            raise SignalingFailed(f"cannot reach the server at {self.url}: {exc or type(exc).__name__}") from None
        self._reader = asyncio.create_task(self._read())

    async def join(self, room: str, name: str, token: str | None = None) -> dict[str, Any]:
        """Join ``room`` as ``name`` (with a room token if the server needs one); returns the
        checked ``joined`` message."""
        message = {"type": "join", "room": room, "name": name}
        if token is not None:
            message["token"] = token
        joined = await self._request(message, "joined")
        if not _valid_joined(joined):
            raise SignalingFailed("the server's 'joined' message is malformed")
        return joined

    async def offer(self, sdp: str) -> str:
        """Send our offer; returns the server's answer SDP."""
        answer = await self._request({"type": "offer", "sdp": sdp}, "answer")
        if not isinstance(answer.get("sdp"), str):
            raise SignalingFailed("the server's answer has no SDP")
        return answer["sdp"]

    async def close(self) -> None:
        """Leave and close; safe to call twice."""
        if self._ws is not None and not self._ws.closed:
            try:
                await self._ws.send_json({"type": "leave"})
            except (ConnectionError, RuntimeError, aiohttp.ClientError):
                pass
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _request(self, message: dict[str, Any], reply_type: str, timeout: float = 15.0) -> dict[str, Any]:
        assert self._ws is not None, "connect() first"
        if self._reader is not None and self._reader.done():
            raise SignalingFailed(self._closed_reason)
        self._pending = asyncio.get_running_loop().create_future()
        try:
            await self._ws.send_json(message)
            reply = await asyncio.wait_for(self._pending, timeout)
        except asyncio.TimeoutError:
            raise SignalingFailed(f"no {reply_type!r} from the server within {timeout:g} s") from None
        except (ConnectionError, RuntimeError, aiohttp.ClientError) as exc:
            raise SignalingFailed(f"lost the connection to the server: {exc}") from None
        finally:
            self._pending = None
        if reply.get("type") == "error":
            code = reply.get("code") if isinstance(reply.get("code"), str) else None
            raise SignalingFailed(f"server refused {message['type']!r}: {reply.get('message')}", code)
        if reply.get("type") != reply_type:
            raise SignalingFailed(f"expected {reply_type!r} from the server, got {reply.get('type')!r}")
        return reply

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for msg in self._ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                try:
                    data = msg.json()
                except (ValueError, RecursionError):
                    logger.warning("ignoring a signaling message that is not JSON")
                    continue
                kind = data.get("type") if isinstance(data, dict) else None
                if not isinstance(kind, str):
                    logger.warning("ignoring a signaling message without a type")
                    continue
                if kind in ("joined", "answer", "error") and self._pending is not None and not self._pending.done():
                    self._pending.set_result(data)
                elif kind == "error" and isinstance(data.get("code"), str):
                    self._closed_reason = f"the server ended the session: {data.get('message')}"
                    self._on_event(data)
                elif kind in ("peer-joined", "peer-left", "draining", "left"):
                    if kind == "draining":
                        self._closed_reason = "the server is shutting down"
                    self._on_event(data)
        finally:
            if self._pending is not None and not self._pending.done():
                self._pending.set_result({"type": "error", "message": self._closed_reason})
            self._on_event({"type": "disconnected", "reason": self._closed_reason})


def _valid_joined(data: dict[str, Any]) -> bool:
    """A ``joined`` message with an id, a participant list of ``{id, name}`` and ICE servers."""
    people = data.get("participants")
    return (_is_id(data.get("id")) and isinstance(people, list)
            and all(isinstance(p, dict) and _is_id(p.get("id")) and isinstance(p.get("name"), str) for p in people)
            and isinstance(data.get("iceServers", []), list))


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 255

