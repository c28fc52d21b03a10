"""Short-lived TURN credentials in the TURN REST API style (coturn's ``use-auth-secret``).

The username is ``EXPIRY:IDENTITY`` (Unix seconds) and the password the base64 HMAC-SHA1 of
the username under a secret shared with the TURN server, which checks both without asking
us. Only participants admitted to a room get them, each their own, valid ``ttl_s`` seconds.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from dataclasses import dataclass

from rtc.ice import IceServer

_UNSAFE = re.compile(r"[^A-Za-z0-9_.@+-]")


@dataclass(frozen=True)
class TurnSettings:
    """TURN server URLs and the secret shared with them."""

    urls: tuple[str, ...]
    secret: bytes
    ttl_s: int = 3600

    def __post_init__(self) -> None:
        IceServer(self.urls)  # validates the URLs
        if not all(u.startswith(("turn:", "turns:")) for u in self.urls):
            raise ValueError("TURN URLs must start with turn: or turns:")
        if not self.secret:
            raise ValueError("a TURN secret is required")
        if not 60 <= self.ttl_s <= 86400:
            raise ValueError("TURN credential lifetime must be 60..86400 s")


def turn_credentials(settings: TurnSettings, identity: str, now: float | None = None) -> IceServer:
    """An ICE server entry with credentials for ``identity`` that expire ``ttl_s`` from ``now``."""
    expiry = int(time.time() if now is None else now) + settings.ttl_s
    username = f"{expiry}:{_UNSAFE.sub('_', identity)[:64]}"
    password = base64.b64encode(hmac.new(settings.secret, username.encode(), hashlib.sha1).digest()).decode()
    return IceServer(settings.urls, username, password)
