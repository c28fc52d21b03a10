"""``focalcall serve``: run the signaling and relay server until SIGTERM or Ctrl-C, then drain."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from rtc.ice import IceServer, IceSettings
from server.config import RELAY_CHECKS, Limits, ServerConfig
from server.tokens import load_secret
from server.turn import TurnSettings

logger = logging.getLogger(__name__)
TURN_SECRET_ENV = "FOCALCALL_TURN_SECRET"

# Command-line option -> Limits field, for the limits group of `serve --help`.
LIMIT_OPTIONS = {
    "--max-rooms": ("max_rooms", int, "rooms on this server"),
    "--max-participants": ("max_participants", int, "participants per room"),
    "--max-sockets-per-address": ("sockets_per_address", int, "open signaling sockets from one IP address"),
    "--max-messages-per-second": ("messages_per_second", float, "signaling messages per socket, sustained"),
    "--message-burst": ("message_burst", int, "signaling messages per socket in a burst"),
    "--join-timeout": ("join_seconds", float, "seconds from opening a socket to joining"),
    "--connect-timeout": ("connect_seconds", float, "seconds from joining to a connected media peer"),
    "--heartbeat": ("heartbeat_seconds", float,
                    "seconds between pings; a peer that does not answer within half of it is dropped"),
    "--max-json-depth": ("max_json_depth", int, "nesting of a signaling message"),
    "--max-sdp-bytes": ("max_sdp_bytes", int, "size of an offer's SDP"),
    "--relay-headroom": ("relay_headroom", float,
                         "a sender may send this multiple of the packets and bytes its codec can need"),
    "--reports-per-second": ("reports_per_second", float, "receiver reports per (receiver, sender)"),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` subcommand."""
    p = subparsers.add_parser("serve", help="run the server (signaling, relay, web page, /metrics)",
                              description="Run the focalcall server: WebSocket signaling on /ws, one WebRTC "
                                          "peer per participant, the web page on /, /healthz and /metrics. "
                                          "SIGTERM drains: participants are told, new sockets refused, then "
                                          "it exits.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="TCP port (default 8080)")
    p.add_argument("--ice-server", action="append", default=[], metavar="URL[,USER,CREDENTIAL]",
                   help="STUN/TURN server offered to admitted participants; repeatable (default: none)")
    p.add_argument("--ice-host", action="append", default=None, metavar="ADDR",
                   help="gather ICE host candidates only from this address; repeatable "
                        "(default: 127.0.0.1 when --host is loopback, else every interface)")
    p.add_argument("--delayed-sack", action=argparse.BooleanOptionalAction, default=True,
                   help="SCTP acknowledges every second packet or after 200 ms, at once on gaps "
                        "(RFC 4960 6.2); --no-delayed-sack acknowledges every packet (default on)")
    p.add_argument("--relay-check", choices=RELAY_CHECKS, default="header",
                   help="what the relay checks of each audio packet before forwarding it: its header "
                        "(version, payload type, sender, length; receivers parse the rest) or the full "
                        "packet (the slower path before issue 20; default header)")
    access = p.add_argument_group("who may join")
    access.add_argument("--secret-file", type=Path, default=None,
                        help="file holding the secret that signs room tokens (at least 32 bytes; "
                             "default: $FOCALCALL_SECRET). Mint tokens with 'focalcall token'")
    access.add_argument("--open-rooms", action=argparse.BooleanOptionalAction, default=None,
                        help="let anyone join any room without a token (default: only when --host is loopback)")
    access.add_argument("--allowed-origin", action="append", default=[], metavar="ORIGIN",
                        help="a web origin (https://host[:port]) whose pages may use /ws besides this "
                             "server's own; '*' for any; repeatable")
    access.add_argument("--turn-url", action="append", default=[], metavar="turn:HOST:PORT",
                        help="TURN server to give admitted participants short-lived credentials for "
                             f"(TURN REST: the secret from --turn-secret-file or ${TURN_SECRET_ENV}); repeatable")
    access.add_argument("--turn-secret-file", type=Path, default=None, help="secret shared with the TURN server")
    access.add_argument("--turn-ttl", type=int, default=3600, help="TURN credential lifetime, seconds (default 3600)")
    limits = p.add_argument_group("limits (each counts in focalcall_limit_hits_total when it bites)")
    defaults = Limits()
    for option, (field_name, kind, text) in LIMIT_OPTIONS.items():
        limits.add_argument(option, type=kind, default=getattr(defaults, field_name), dest=field_name, metavar="N",
                            help=f"{text} (default {getattr(defaults, field_name):g})")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, metavar="N",
                   help="worker processes, each serving whole rooms behind one front on --port "
                        f"(default: the number of cores, {os.cpu_count() or 1}; 1: a single process)")
    p.add_argument("--redis", default=None, metavar="URL",
                   help="share rooms with the other nodes of this Redis (redis://host:6379/0): the room "
                        "directory and node heartbeats live there (default: none, rooms stay on this node)")
    p.add_argument("--node-url", default=None, metavar="URL",
                   help="with --redis: the URL other nodes reach this one at "
                        "(default http://HOST:PORT/; needed when --host is a wildcard)")
    p.add_argument("--worker-port", type=int, default=None, help=argparse.SUPPRESS)  # set by the supervisor
    p.add_argument("--drain-timeout", type=float, default=5.0,
                   help="on SIGTERM, seconds to wait for participants to leave before closing (default 5)")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """Build the server configuration from parsed command-line arguments."""
    ice = IceSettings(tuple(IceServer.parse(s) for s in args.ice_server),
                      tuple(args.ice_host) if args.ice_host else None, args.delayed_sack)
    limits = Limits(**{field_name: getattr(args, field_name) for field_name, _, _ in LIMIT_OPTIONS.values()})
    turn = None
    if args.turn_url:
        if args.turn_secret_file is not None:
            turn_secret = args.turn_secret_file.read_bytes().strip()
        else:
            turn_secret = os.environ.get(TURN_SECRET_ENV, "").strip().encode()
        if not turn_secret:
            raise ValueError(f"--turn-url needs a shared secret (--turn-secret-file or ${TURN_SECRET_ENV})")
        turn = TurnSettings(tuple(args.turn_url), turn_secret, args.turn_ttl)
    return ServerConfig(host=args.host, port=args.port, ice=ice, limits=limits,
                        secret=load_secret(args.secret_file), open_rooms=args.open_rooms,
                        allowed_origins=tuple(args.allowed_origin), turn=turn, drain_seconds=args.drain_timeout,
                        relay_check=args.relay_check, trusted_front=args.worker_port is not None)


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM or Ctrl-C, then drain and exit."""
    if args.workers < 1:
        raise ValueError("--workers must be at least 1")
    config = config_from_args(args)
    install_uvloop()
    if args.worker_port is not None:
        asyncio.run(serve(config, ("127.0.0.1", args.worker_port)))
    elif args.workers > 1 or args.redis is not None:
        from server.supervisor import supervise

        if args.redis is not None and args.node_url is None and args.host in ("0.0.0.0", "::", ""):
            raise ValueError("--redis with a wildcard --host needs --node-url (how other nodes reach this one)")
        asyncio.run(supervise(config, worker_argv(args.argv), args.workers, args.redis, args.node_url))
    else:
        asyncio.run(serve(config))
    return 0


def worker_argv(argv: list[str]) -> list[str]:
    """The command line (``argv``: this one's arguments) for one worker: the same options, on
    a loopback port of its own."""
    at = argv.index("serve")  # global options (-v) before it, serve's own after it
    return [sys.executable, "-m", "focalcall", *argv[:at], "serve", *argv[at + 1:], "--workers", "1",
            "--worker-port", "0"]


async def serve(config: ServerConfig, worker_listen: tuple[str, int] | None = None) -> None:
    """Run the server; on SIGTERM or SIGINT stop listening, drain the sessions, and return.
    ``worker_listen``: run as one worker of a supervisor, on that loopback address."""
    from aiohttp import web

    from server.app import CallServer

    server = CallServer(config)
    runner = web.AppRunner(server.make_app(), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, *(worker_listen or (config.host, config.port)))
    await site.start()
    signals = asyncio.Queue()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, signals.put_nowait, sig)
    opened = "open rooms" if config.rooms_are_open else "room tokens required"
    if worker_listen is not None:
        port = site._server.sockets[0].getsockname()[1]
        print(f"focalcall worker listening on http://127.0.0.1:{port}/", flush=True)
    else:
        print(f"focalcall serving on http://{config.host}:{config.port}/ ({opened})", flush=True)
    try:
        await signals.get()
        _say("focalcall: draining (new connections refused; a second signal stops at once)")
        await site.stop()  # stop listening: a restarted server can take the port
        drain = asyncio.create_task(server.drain(config.drain_seconds))
        again = asyncio.create_task(signals.get())
        await asyncio.wait([drain, again], return_when=asyncio.FIRST_COMPLETED)
        for task in (drain, again):
            task.cancel()
    finally:
        await runner.cleanup()
    _say("focalcall: stopped")


def _say(text: str) -> None:
    """A line on stdout; a worker whose supervisor died (its pipe closed) carries on without."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        pass


def install_uvloop() -> bool:
    """Use uvloop's event loop when it is installed; return whether it is."""
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True
