"""The client's end of the signaling WebSocket (protocol in server/signaling.py's docstring)."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

import aiohttp

logger = logging.getLogger(__name__)


class SignalingFailed(RuntimeError):
    """The server refused a request or the connection failed; the message says why."""


def websocket_url(server_url: str) -> str:
    """``http://host:port/`` → ``ws://host:port/ws`` (``https`` → ``wss``)."""
    parts = urlsplit(server_url)
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.netloc:
        raise ValueError(f"server URL must look like http://HOST:PORT (got {server_url!r})")
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path if parts.path.endswith("/ws") else parts.path.rstrip("/") + "/ws"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


class SignalingClient:
    """Joins a room, exchanges SDP, and reports room events through ``on_event(message)``."""

    def __init__(self, server_url: str, on_event: Callable[[dict[str, Any]], None]) -> None:
        self.url = websocket_url(server_url)
        self._on_event = on_event
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task | None = None
        self._replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def connect(self) -> None:
        """Open the WebSocket."""
        self._session = aiohttp.ClientSession()
        try:
            self._ws = await self._session.ws_connect(self.url, heartbeat=20)
        except (aiohttp.ClientError, OSError) as exc:
            await self._session.close()
            raise SignalingFailed(f"cannot reach the server at {self.url}: {exc}") from None
        self._reader = asyncio.create_task(self._read())

    async def join(self, room: str, name: str) -> dict[str, Any]:
        """Join ``room`` as ``name``; returns the ``joined`` message."""
        return await self._request({"type": "join", "room": room, "name": name}, "joined")

    async def offer(self, sdp: str) -> str:
        """Send our offer; returns the server's answer SDP."""
        return (await self._request({"type": "offer", "sdp": sdp}, "answer"))["sdp"]

    async def close(self) -> None:
        """Leave and close; safe to call twice."""
        if self._ws is not None and not self._ws.closed:
            try:
                await self._ws.send_json({"type": "leave"})
            except (ConnectionError, RuntimeError):
                pass
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _request(self, message: dict[str, Any], reply_type: str, timeout: float = 15.0) -> dict[str, Any]:
        assert self._ws is not None, "connect() first"
        await self._ws.send_json(message)
        try:
            reply = await asyncio.wait_for(self._replies.get(), timeout)
        except asyncio.TimeoutError:
            raise SignalingFailed(f"no {reply_type!r} from the server within {timeout:g} s") from None
        if reply.get("type") == "error":
            raise SignalingFailed(f"server refused {message['type']!r}: {reply.get('message')}")
        if reply.get("type") != reply_type:
            raise SignalingFailed(f"expected {reply_type!r} from the server, got {reply.get('type')!r}")
        return reply

    async def _read(self) -> None:
        assert self._ws is not None
        async for msg in self._ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            try:
                data = msg.json()
            except ValueError:
                logger.warning("ignoring a non-JSON signaling message")
                continue
            kind = data.get("type") if isinstance(data, dict) else None
            if kind in ("joined", "answer", "error"):
                await self._replies.put(data)
            elif kind is not None:
                self._on_event(data)
        await self._replies.put({"type": "error", "message": "the server closed the connection"})
        self._on_event({"type": "disconnected"})
