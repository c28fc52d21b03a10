"""Server settings with embedded defaults: ``focalcall serve`` needs nothing else on loopback."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from pathlib import Path

from rtc.ice import IceSettings
from server.turn import TurnSettings

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
# The neural codec's shipped ONNX files and metadata: the browser page runs the codec itself.
MODELS_DIR = Path(__file__).resolve().parent.parent / "codec" / "neural" / "weights"


RELAY_CHECKS = ("header", "full")


@dataclass(frozen=True)
class Limits:
    """What one client can make the server hold or do. Each limit counts in
    ``focalcall_limit_hits_total{limit=...}`` when it bites (README, "Limits")."""

    max_rooms: int = 1000
    max_participants: int = 16          # per room
    sockets_per_address: int = 32       # open signaling sockets from one IP address
    messages_per_second: float = 10.0   # signaling messages per socket, sustained...
    message_burst: int = 30             # ...and in a burst
    join_seconds: float = 10.0          # from opening the socket to joining
    connect_seconds: float = 20.0       # from joining to a connected media peer
    heartbeat_seconds: float = 3.0      # WebSocket ping period; no answer within half of it: dropped
    max_message_bytes: int = 64 * 1024
    max_json_depth: int = 4
    max_sdp_bytes: int = 16 * 1024
    relay_headroom: float = 2.0         # a sender may send this multiple of what its codec can need
    reports_per_second: float = 2.0     # receiver reports per (receiver, sender) stream

    def __post_init__(self) -> None:
        for name in ("max_rooms", "max_participants", "sockets_per_address", "message_burst",
                     "max_message_bytes", "max_json_depth", "max_sdp_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("messages_per_second", "join_seconds", "connect_seconds", "heartbeat_seconds",
                     "reports_per_second"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if self.relay_headroom < 1:
            raise ValueError("relay_headroom must be at least 1 (the codec's own need)")


@dataclass(frozen=True)
class ServerConfig:
    """Where to listen, who may join, ICE and TURN settings, limits and the static web root.

    ``secret`` signs room tokens (``None``: no tokens). ``open_rooms`` lets anyone join any
    room without one; ``None`` means "only when listening on loopback". ``allowed_origins``
    lists the web origins whose pages may open ``/ws`` besides the server's own; ``*`` allows
    any. ``drain_seconds`` is how long a SIGTERM waits for participants to leave.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    ice: IceSettings = field(default_factory=IceSettings)
    limits: Limits = field(default_factory=Limits)
    secret: bytes | None = None
    open_rooms: bool | None = None
    allowed_origins: tuple[str, ...] = ()
    turn: TurnSettings | None = None
    drain_seconds: float = 5.0
    relay_check: str = "header"  # "header": forward on the header; "full": parse every packet (old path)
    trusted_front: bool = False  # a worker behind a front: the client's address is in X-Forwarded-For
    web_root: Path = WEB_ROOT
    models_dir: Path = MODELS_DIR

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535 (got {self.port})")
        if not self.web_root.is_dir():
            raise ValueError(f"web root {self.web_root} is not a directory")
        if self.relay_check not in RELAY_CHECKS:
            raise ValueError(f"relay_check must be one of {', '.join(RELAY_CHECKS)} (got {self.relay_check!r})")
        if self.drain_seconds < 0:
            raise ValueError("drain_seconds must not be negative")
        if not self.rooms_are_open and self.secret is None:
            raise ValueError(f"listening on {self.host} needs a secret to check room tokens "
                             "(--secret-file FILE or $FOCALCALL_SECRET), or --open-rooms to let anyone in")

    @property
    def rooms_are_open(self) -> bool:
        """Whether a join needs no token."""
        return _is_loopback(self.host) if self.open_rooms is None else self.open_rooms

    @property
    def effective_ice(self) -> IceSettings:
        """ICE settings, restricted to loopback candidates when listening on loopback only.

        A server bound to 127.0.0.1 can only be reached from this machine, so offering
        other host candidates would only send media out of the box for nothing.
        """
        if self.ice.host_addresses is None and _is_loopback(self.host):
            return replace(self.ice, host_addresses=("127.0.0.1",))
        return self.ice


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
