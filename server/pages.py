"""The HTTP face every focalcall server process shows: signaling, health, metrics, the page.

Shared by a single-process server (``server.app``) and the front of several workers
(``server.front``), so both serve the same routes and headers.
"""
from __future__ import annotations

from typing import Awaitable, Callable

from aiohttp import web

from server.config import ServerConfig

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def page_app(config: ServerConfig, websocket: Handler, healthz: Handler, prometheus: Handler) -> web.Application:
    """An application with ``/ws``, ``/healthz``, ``/metrics``, the page and its models."""
    app = web.Application()
    app.router.add_get("/ws", websocket)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", prometheus)

    async def index(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(config.web_root / "index.html")

    app.router.add_get("/", index)
    if config.models_dir.is_dir():
        app.router.add_static("/models/", config.models_dir, show_index=False)
    app.router.add_static("/", config.web_root, show_index=False)
    app.on_response_prepare.append(_no_referrer)
    return app


async def _no_referrer(request: web.Request, response: web.StreamResponse) -> None:
    """Pages never leak their URL (an invite's room) in a Referer header."""
    response.headers.setdefault("Referrer-Policy", "no-referrer")
