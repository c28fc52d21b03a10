"""One signaling socket at the server: its WebSocket, peer, participant, timers and budgets."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from aiohttp import web

from server.peer import PeerConnection
from server.ratelimit import TokenBucket
from server.rooms import Participant
from server.sender import SenderState

logger = logging.getLogger(__name__)

# WebSocket close codes (RFC 6455): going away (server shutdown), policy violation (a limit or
# an authentication failure), try again later (server busy).
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_TRY_AGAIN = 1013


class Session:
    """Everything the server holds for one socket. Closing it (:meth:`end`) ends the socket's
    message loop, whose cleanup removes the participant: one path out, whatever the reason."""

    def __init__(self, ws: web.WebSocketResponse, address: str, messages: TokenBucket) -> None:
        self.ws = ws
        self.address = address
        self.messages = messages
        self.messages_dropped = 0
        self.participant: Participant | None = None
        self.peer: PeerConnection | None = None
        self.sender: SenderState | None = None  # created on the first audio packet
        self.ended: str | None = None  # why the server ended it, once it did
        self._timer: asyncio.TimerHandle | None = None

    async def send(self, message: dict[str, Any]) -> None:
        """Send a signaling message, ignoring a socket that is already closing."""
        if not self.ws.closed:
            try:
                await self.ws.send_json(message)
            except (ConnectionError, RuntimeError) as exc:
                logger.debug("could not send %s: %s", message.get("type"), exc)

    def arm(self, seconds: float, expire: Callable[[], None]) -> None:
        """Call ``expire`` in ``seconds`` unless :meth:`disarm` (or another :meth:`arm`) comes first."""
        self.disarm()
        self._timer = asyncio.get_running_loop().call_later(seconds, expire)

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def end(self, reason: str, message: dict[str, Any] | None = None, code: int = CLOSE_POLICY) -> None:
        """Tell the client why (``message``), then close the socket; safe to call twice."""
        if self.ended is not None:
            return
        self.ended = reason
        self.disarm()
        if message is not None:
            await self.send(message)
        if not self.ws.closed:
            await self.ws.close(code=code, message=reason.encode()[:120])
