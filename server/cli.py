"""``focalcall serve``: run the signaling and relay server."""
from __future__ import annotations

import argparse
import asyncio
import logging

from focalcall.ice import IceServer, IceSettings
from server.config import ServerConfig

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` subcommand."""
    p = subparsers.add_parser("serve", help="run the server (signaling, relay, web page, /metrics)",
                              description="Run the focalcall server: WebSocket signaling on /ws, one WebRTC "
                                          "peer per participant, the web page on /, /healthz and /metrics.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="TCP port (default 8080)")
    p.add_argument("--ice-server", action="append", default=[], metavar="URL[,USER,CREDENTIAL]",
                   help="STUN/TURN server offered to and used for participants; repeatable (default: none)")
    p.add_argument("--ice-host", action="append", default=None, metavar="ADDR",
                   help="gather ICE host candidates only from this address; repeatable "
                        "(default: 127.0.0.1 when --host is loopback, else every interface)")
    p.add_argument("--max-participants", type=int, default=16, help="participants per room (default 16)")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """Build the server configuration from parsed command-line arguments."""
    ice = IceSettings(tuple(IceServer.parse(s) for s in args.ice_server),
                      tuple(args.ice_host) if args.ice_host else None)
    return ServerConfig(host=args.host, port=args.port, ice=ice, max_participants=args.max_participants)


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    from aiohttp import web

    from server.app import CallServer

    config = config_from_args(args)
    install_uvloop()
    app = CallServer(config).make_app()
    url = f"http://{config.host}:{config.port}/"

    def announce(*_: object) -> None:
        print(f"focalcall serving on {url}", flush=True)

    web.run_app(app, host=config.host, port=config.port, print=announce, access_log=None)
    return 0


def install_uvloop() -> bool:
    """Use uvloop's event loop when it is installed; return whether it is."""
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True
