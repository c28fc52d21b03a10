"""ICE settings shared by the server and the Python client.

aiortc adds a public STUN server when ``iceServers`` is unset, and aioice never offers
loopback as a host candidate. focalcall therefore always passes an explicit server list
(empty by default) and can restrict the host addresses aioice gathers, e.g. to
``127.0.0.1`` for tests and single-machine use.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # aiortc takes a second to import; only calls need it, not `focalcall --help`
    from aiortc import RTCConfiguration


@dataclass(frozen=True)
class IceServer:
    """One STUN or TURN server as in the WebRTC ``RTCIceServer`` dictionary."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("an ICE server needs at least one URL")
        for url in self.urls:
            if not url.startswith(("stun:", "turn:", "turns:")):
                raise ValueError(f"ICE server URL must start with stun:, turn: or turns: (got {url!r})")

    @classmethod
    def parse(cls, spec: str) -> "IceServer":
        """Parse ``URL`` or ``URL,USERNAME,CREDENTIAL`` (the command-line form)."""
        parts = spec.split(",")
        if len(parts) not in (1, 3):
            raise ValueError(f"ICE server must be URL or URL,USERNAME,CREDENTIAL (got {spec!r})")
        if len(parts) == 3:
            return cls((parts[0],), parts[1], parts[2])
        return cls((parts[0],))

    def as_dict(self) -> dict[str, Any]:
        """The browser's ``RTCIceServer`` dictionary."""
        out: dict[str, Any] = {"urls": list(self.urls)}
        if self.username is not None:
            out["username"] = self.username
            out["credential"] = self.credential
        return out


@dataclass(frozen=True)
class IceSettings:
    """STUN/TURN servers and the host addresses to gather candidates from (``None``: all);
    ``delayed_sack``: SCTP acknowledges every second packet, not every one
    (:mod:`rtc.delayed_sack`)."""

    servers: tuple[IceServer, ...] = ()
    host_addresses: tuple[str, ...] | None = None
    delayed_sack: bool = True

    def __post_init__(self) -> None:
        for address in self.host_addresses or ():
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ValueError(f"ICE host address must be an IP address (got {address!r})") from None

    def rtc_configuration(self) -> RTCConfiguration:
        """An aiortc configuration with exactly these servers (never aiortc's default STUN)."""
        from aiortc import RTCConfiguration, RTCIceServer

        return RTCConfiguration(iceServers=[
            RTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential)
            for s in self.servers
        ])

    def apply(self) -> None:
        """Restrict aioice's host candidates for this process (if restricted) and choose its
        SCTP acknowledgement policy."""
        from rtc.delayed_sack import use_delayed_sack

        if self.host_addresses is not None:
            restrict_host_addresses(self.host_addresses)
        use_delayed_sack(self.delayed_sack)


def restrict_host_addresses(addresses: tuple[str, ...]) -> None:
    """Make aioice gather host candidates only from ``addresses`` (process-wide)."""
    import aioice.ice

    chosen = list(addresses)

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in chosen
                if (use_ipv4 and ipaddress.ip_address(a).version == 4)
                or (use_ipv6 and ipaddress.ip_address(a).version == 6)]

    aioice.ice.get_host_addresses = get_host_addresses
