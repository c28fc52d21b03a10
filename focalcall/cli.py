"""The ``focalcall`` command: one parser, each package contributes its subcommands."""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Modules exposing ``register(subparsers)``; each adds its subcommands with
# ``set_defaults(func=...)`` where ``func(args) -> int`` is the exit status.
COMMAND_MODULES = ("server.cli", "server.invite_cli", "client.cli", "codec.cli", "codec.data.cli", "callsim.cli",
                   "impair.cli")


class UserError(Exception):
    """An error caused by the user's input: printed as one line, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    """The full ``focalcall`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="focalcall",
        description="Voice calls at under 1 kbps: server, client, codecs and tools.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more logging (-v info, -vv debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # e.g. for the server's worker processes
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        return int(args.func(args) or 0)
    except (UserError, FileNotFoundError, ValueError) as exc:
        print(f"focalcall {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
