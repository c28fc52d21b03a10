"""Server settings with embedded defaults: ``focalcall serve`` needs nothing else."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from focalcall.ice import IceSettings

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
# The neural codec's shipped ONNX files and metadata: the browser page runs the codec itself.
MODELS_DIR = Path(__file__).resolve().parent.parent / "codec" / "neural" / "weights"


@dataclass(frozen=True)
class ServerConfig:
    """Where to listen, ICE settings, room limits and the static web root."""

    host: str = "127.0.0.1"
    port: int = 8080
    ice: IceSettings = field(default_factory=IceSettings)
    max_participants: int = 16
    web_root: Path = WEB_ROOT
    models_dir: Path = MODELS_DIR

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535 (got {self.port})")
        if not self.web_root.is_dir():
            raise ValueError(f"web root {self.web_root} is not a directory")

    @property
    def effective_ice(self) -> IceSettings:
        """ICE settings, restricted to loopback candidates when listening on loopback only.

        A server bound to 127.0.0.1 can only be reached from this machine, so offering
        other host candidates would only send media out of the box for nothing.
        """
        if self.ice.host_addresses is None and _is_loopback(self.host):
            return IceSettings(self.ice.servers, ("127.0.0.1",))
        return self.ice


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
