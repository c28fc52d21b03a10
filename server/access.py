"""Which web pages may open the signaling socket: the Origin allow-list."""
from __future__ import annotations

from urllib.parse import urlsplit


def origin_allowed(origin: str | None, host: str | None, allowed: tuple[str, ...]) -> bool:
    """Whether a WebSocket upgrade with this ``Origin`` header may proceed.

    Browsers always send ``Origin`` on WebSocket upgrades, so a missing one is a non-browser
    client (``focalcall join``), which could send anything anyway: allowed. A page served by
    this server (the origin's host:port is the request's ``Host``) is allowed, as is any origin
    in ``allowed`` (``scheme://host[:port]``, or ``*`` for every origin). Everything else, a
    page elsewhere trying to use a visitor's browser against this server, is refused.
    """
    if origin is None:
        return True
    if "*" in allowed or origin.rstrip("/") in {a.rstrip("/") for a in allowed}:
        return True
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc) and host is not None \
        and parts.netloc.lower() == host.lower()
