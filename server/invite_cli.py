"""``focalcall token`` and ``focalcall e2ee-key``: invitations to a room.

A token admits one person to one room until it expires; an invite link carries it in the
URL fragment (``#token=...``), which browsers never send to any server, together with the
room key when the room is end-to-end encrypted (``&key=...``).
"""
from __future__ import annotations

import argparse
import re
import time
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from server.rooms import validate_display_name, validate_room_name
from server.tokens import RIGHTS, RoomGrant, load_secret, mint_token

DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``token`` and ``e2ee-key`` subcommands."""
    p = subparsers.add_parser(
        "token", help="mint a room token (an invitation) signed with the server's secret",
        description="Print a token admitting IDENTITY to ROOM until it expires, or with --invite an invite "
                    "link for the web page. The secret is the server's (--secret-file or $FOCALCALL_SECRET).")
    p.add_argument("room", help="the room the token admits to")
    p.add_argument("--identity", required=True,
                   help="who this is (unique per person: a second join with it replaces the first)")
    p.add_argument("--name", default=None, help="display name the others see (default: chosen when joining)")
    p.add_argument("--ttl", default="24h", metavar="DURATION",
                   help="how long the token admits, e.g. 90s, 30m, 8h, 7d (default 24h)")
    p.add_argument("--listen-only", action="store_true", help="may receive audio but not send it")
    p.add_argument("--secret-file", type=Path, default=None, help="the server's secret (default $FOCALCALL_SECRET)")
    p.add_argument("--invite", default=None, metavar="SERVER_URL",
                   help="print an invite link to the web page at SERVER_URL (e.g. https://calls.example.com/)")
    p.add_argument("--e2ee-key-file", type=Path, default=None,
                   help="with --invite: put this room key in the link (end-to-end encrypted room)")
    p.set_defaults(func=run_token)

    k = subparsers.add_parser("e2ee-key", help="make a fresh room key for end-to-end encryption",
                              description="Print a new random room key as EPOCH:BASE64URL. Give it to the "
                                          "participants (focalcall join --e2ee-key-file, or an invite link), "
                                          "never to the server.")
    k.add_argument("--epoch", type=int, default=0, help="key epoch 0-255 (a new epoch replaces an old key)")
    k.set_defaults(func=run_key)


def parse_duration(text: str) -> float:
    """Seconds in ``90``, ``90s``, ``30m``, ``8h`` or ``7d``."""
    match = DURATION_RE.match(text.strip())
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"duration must look like 90s, 30m, 8h or 7d (got {text!r})")
    return float(match.group(1)) * UNITS[match.group(2)]


def run_token(args: argparse.Namespace) -> int:
    secret = load_secret(args.secret_file)
    if secret is None:
        raise ValueError("no secret: pass --secret-file FILE or set $FOCALCALL_SECRET (the server's)")
    room = validate_room_name(args.room)
    name = validate_display_name(args.name) if args.name is not None else None
    rights = ("subscribe",) if args.listen_only else RIGHTS
    grant = RoomGrant(room=room, identity=args.identity, name=name, rights=rights,
                      expires=int(time.time() + parse_duration(args.ttl)))
    token = mint_token(secret, grant)
    if args.invite is None:
        if args.e2ee_key_file is not None:
            raise ValueError("--e2ee-key-file goes with --invite")
        print(token)
        return 0
    print(invite_link(args.invite, room, token, _read_key(args.e2ee_key_file)))
    return 0


def invite_link(server_url: str, room: str, token: str, key: str | None = None) -> str:
    """``SERVER_URL?room=ROOM#token=TOKEN[&key=KEY]``: the secrets ride in the fragment."""
    parts = urlsplit(server_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"invite server URL must look like https://HOST[:PORT]/ (got {server_url!r})")
    fragment = f"token={token}" + (f"&key={quote(key, safe=':')}" if key else "")
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", f"room={quote(room)}", fragment))


def _read_key(path: Path | None) -> str | None:
    if path is None:
        return None
    from transport.e2ee import Keyring

    text = path.read_text()
    Keyring.parse(text)  # say now if it is not a key
    return ",".join(line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip())


def run_key(args: argparse.Namespace) -> int:
    from transport.e2ee import format_key, new_key

    if not 0 <= args.epoch <= 255:
        raise ValueError("--epoch must be 0-255")
    print(format_key(new_key(), args.epoch))
    return 0
