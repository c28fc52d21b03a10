"""``focalcall join``: take part in a call from the command line."""
from __future__ import annotations

import argparse
import os
import asyncio
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable
from urllib.parse import urlsplit

from rtc.ice import IceServer, IceSettings

if TYPE_CHECKING:
    from client.call import Call
    from client.sources import AudioSource
    from transport.e2ee import Keyring

DEFAULT_CODEC = "focal-800"
DEFAULT_SERVER = "http://127.0.0.1:8080/"
LINGER_SECONDS = 1.0  # after a file ends, keep listening for audio still in flight


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``join`` subcommand."""
    p = subparsers.add_parser(
        "join", help="join a call from the command line",
        description="Join ROOM, send audio from a WAV file or the microphone, and write what the others "
                    "say to a WAV file (mixed), one WAV per sender, or the speaker. Stops at the end of the "
                    "input file, after --duration seconds, or on Ctrl-C, and prints a summary.")
    p.add_argument("room", help="room name (letters, digits, '_', '-', '.'; created on first join)")
    p.add_argument("--server", default=DEFAULT_SERVER, help=f"server URL (default {DEFAULT_SERVER})")
    p.add_argument("--name", default=None, help="display name (default: the room-local 'cli-<pid>')")
    p.add_argument("--input", default="none", metavar="FILE.wav|mic|none",
                   help="what to send: a WAV file (any rate/channels), 'mic', or 'none' (listen only; default)")
    p.add_argument("--output", default="none", metavar="FILE.wav|speaker|none",
                   help="where the others go: a WAV file (16 kHz, all senders mixed), 'speaker', or 'none'")
    p.add_argument("--output-dir", type=Path, default=None,
                   help="also write one 16 kHz WAV per sender into this directory")
    p.add_argument("--codec", default=DEFAULT_CODEC, help=f"codec name (default {DEFAULT_CODEC}; "
                                                          "see 'focalcall codec list')")
    p.add_argument("--frames-per-packet", type=int, default=2, choices=range(1, 9), metavar="N",
                   help="codec frames per packet, 1-8 (default 2; at most 4 with --e2ee-key-file)")
    p.add_argument("--max-bitrate", type=float, default=None, metavar="BPS",
                   help="keep what this participant sends under BPS bit/s on the wire, every header counted "
                        "(IPv4, UDP, DTLS, SCTP, and the SACKs coming back) while talking: packets then carry "
                        "more frames (up to 8, 160 ms: more latency) and, if that is not enough, less "
                        "redundancy (default: no cap; packets grow only when the link is overloaded)")
    p.add_argument("--start-frames", type=int, default=None, choices=range(1, 9), metavar="N",
                   help="start at N frames a packet and step down to --frames-per-packet while the "
                        "receivers' reports show no queue (a slow start: a narrow link is found before it "
                        "is overrun; default: start at --frames-per-packet)")
    p.add_argument("--max-receive-bitrate", type=float, default=None, metavar="BPS",
                   help="ask every sender heard to keep its stream under BPS bit/s on the wire (sent in the "
                        "receiver reports, in whole kbit/s)")
    p.add_argument("--dtx", action=argparse.BooleanOptionalAction, default=True,
                   help="discontinuous transmission: stop sending in pauses (a keep-alive every 400 ms; "
                        "the others hear comfort noise). Default on (--no-dtx: send every frame); never with "
                        "--e2ee-key-file")
    p.add_argument("--redundancy", type=int, default=None, metavar="R",
                   help="copies of the previous R frames in each packet, 0-15 (default: 160 ms worth for "
                        "codecs up to 3.2 kbit/s, 40 ms for Opus); adapted to the receivers' loss reports")
    p.add_argument("--parity", type=int, default=0, metavar="K",
                   help="add XOR parity over every K packets (default 0: none)")
    p.add_argument("--duration", type=float, default=None, metavar="S",
                   help="leave after S seconds (default: at the end of the input file, or on Ctrl-C)")
    p.add_argument("--token", default=None,
                   help="room token from the operator ('focalcall token'); default $FOCALCALL_TOKEN. "
                        "Not needed for open rooms")
    p.add_argument("--token-file", type=Path, default=None, help="read the room token from this file")
    p.add_argument("--e2ee-key-file", type=Path, default=None,
                   help="room key(s) for end-to-end encryption ('focalcall e2ee-key'): packets are sealed "
                        "so the server relays what it cannot hear; everyone in the room needs the key")
    p.add_argument("--reconnect-timeout", type=float, default=60.0, metavar="S",
                   help="when the connection drops, keep reconnecting this long before giving up with an "
                        "error (default 60; 0: never reconnect)")
    p.add_argument("--heartbeat", type=float, default=3.0, metavar="S",
                   help="ping the server every S seconds; no answer within half of it counts as a lost "
                        "connection (default 3; raise it on slow, lossy links, as the server's --heartbeat)")
    p.add_argument("--ice-server", action="append", default=[], metavar="URL[,USER,CREDENTIAL]",
                   help="STUN/TURN server; repeatable (default: none)")
    p.add_argument("--ice-host", action="append", default=None, metavar="ADDR",
                   help="gather ICE host candidates only from this address; repeatable "
                        "(default: 127.0.0.1 when the server is on loopback, else every interface)")
    p.add_argument("--delayed-sack", action=argparse.BooleanOptionalAction, default=True,
                   help="SCTP acknowledges every second packet or after 200 ms, at once on gaps "
                        "(RFC 4960 6.2); --no-delayed-sack acknowledges every packet (default on)")
    p.set_defaults(func=run)


def ice_from_args(args: argparse.Namespace) -> IceSettings:
    """ICE settings; a loopback server implies loopback-only host candidates."""
    hosts = tuple(args.ice_host) if args.ice_host else None
    if hosts is None and urlsplit(args.server).hostname in ("127.0.0.1", "localhost", "::1"):
        hosts = ("127.0.0.1",)
    return IceSettings(tuple(IceServer.parse(s) for s in args.ice_server), hosts, args.delayed_sack)


def run(args: argparse.Namespace) -> int:
    """Run one call until it ends, then print the summary."""
    if args.duration is not None and args.duration <= 0:
        raise ValueError("--duration must be positive")
    if not args.heartbeat > 0:
        raise ValueError("--heartbeat must be positive")
    if args.reconnect_timeout < 0:
        raise ValueError("--reconnect-timeout must not be negative")
    from server.cli import install_uvloop

    install_uvloop()
    return asyncio.run(_join(args))


async def _join(args: argparse.Namespace) -> int:
    # Imported here so that `focalcall --help` stays fast.
    from client.call import Call, ReconnectPolicy, SendOptions
    from client.recording import write_outputs
    from client.signaling import SignalingFailed
    from client.sources import MicSource, WavSource
    from codec.registry import get_codec

    codec = get_codec(args.codec)
    source = None
    if args.input == "mic":
        source = MicSource(codec)
    elif args.input != "none":
        source = WavSource(Path(args.input), codec)
    output_path = None if args.output in ("none", "speaker") else Path(args.output)
    if output_path is not None and not output_path.parent.is_dir():
        raise ValueError(f"output directory {output_path.parent} does not exist")
    speaker = None
    if args.output == "speaker":
        from client.playout import SpeakerSink

        speaker = SpeakerSink(codec)
    name = args.name or f"cli-{os.getpid()}"
    for option in ("max_bitrate", "max_receive_bitrate"):
        if getattr(args, option) is not None and getattr(args, option) < 1000:
            raise ValueError(f"--{option.replace('_', '-')} must be at least 1000 bit/s")
    if args.start_frames is not None and args.start_frames < args.frames_per_packet:
        raise ValueError("--start-frames must be at least --frames-per-packet")
    options = SendOptions(args.frames_per_packet, args.redundancy, args.parity, args.dtx, args.max_bitrate,
                          args.max_receive_bitrate, args.start_frames)
    reconnect = ReconnectPolicy(give_up_after_s=args.reconnect_timeout) if args.reconnect_timeout > 0 else None
    call = Call(args.server, args.room, name, codec, ice_from_args(args), options,
                on_frame=speaker.push if speaker else None, token=_token(args), keyring=_keyring(args),
                reconnect=reconnect, on_state=_state_printer(), heartbeat_s=args.heartbeat)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    started = time.monotonic()
    try:
        try:
            await call.start()
        except SignalingFailed as exc:
            print(f"focalcall join: error: {exc}", file=sys.stderr)
            return 1
        print(f"joined room {args.room!r} as {call.name_given} (id {call.id}) with {codec.name}"
              f"{', end-to-end encrypted' if call.keyring else ''}", file=sys.stderr)
        waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(call.failed.wait())]
        if source is not None:
            waiters.append(asyncio.create_task(_send_then_linger(call, source, args.duration is None)))
        await asyncio.wait(waiters, timeout=args.duration, return_when=asyncio.FIRST_COMPLETED)
        for task in waiters:
            task.cancel()
    finally:
        await call.stop()
        if speaker is not None:
            speaker.close()
    elapsed = time.monotonic() - started
    written = write_outputs(call.received(), output_path, args.output_dir, max_seconds=elapsed)
    print(summary(call, elapsed, written), file=sys.stderr)
    if call.failure is not None:
        print(f"focalcall join: error: lost the call: {call.failure}", file=sys.stderr)
        return 1
    return 0


def _token(args: argparse.Namespace) -> str | None:
    if args.token_file is not None:
        return args.token_file.read_text().strip()
    return args.token or os.environ.get("FOCALCALL_TOKEN") or None


def _keyring(args: argparse.Namespace) -> "Keyring | None":
    if args.e2ee_key_file is None:
        return None
    from transport.e2ee import Keyring

    return Keyring.parse(args.e2ee_key_file.read_text())


def _state_printer() -> Callable[[str, str], None]:
    """Connection changes and senders heard, one line each on stderr (the first "connected"
    is the join line)."""
    trouble = False

    def show(state: str, detail: str) -> None:
        nonlocal trouble
        if state != "connected" or trouble:
            now = time.time()
            stamp = time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"
            print(f"[{stamp}] {state}: {detail}", file=sys.stderr, flush=True)
        trouble = trouble or state not in ("connected", "hearing")

    return show


async def _send_then_linger(call: "Call", source: "AudioSource", linger: bool) -> None:
    await call.send(source)
    if linger:
        await asyncio.sleep(LINGER_SECONDS)
    else:
        await asyncio.Event().wait()  # keep listening until --duration or Ctrl-C


def summary(call: "Call", elapsed: float, written: list[Path]) -> str:
    """The one-screen end-of-call report."""
    sent = call.stats.sent
    lines = [f"call summary: room {call.room!r}, {call.codec.name}, {elapsed:.1f} s"]
    if sent.packets:
        lines.append(f"  sent      {sent.frames} frames in {sent.packets} packets: "
                     f"{8 * sent.payload_bytes / sent.seconds:.0f} bit/s codec payload, "
                     f"{8 * sent.wire_bytes / sent.seconds:.0f} bit/s with headers and redundancy, "
                     f"{8 * sent.ip_bytes / sent.seconds:.0f} bit/s as IPv4 packets")
        if sent.frames_held or sent.keepalives:
            lines.append(f"            DTX {100 * sent.dtx_share:.0f}% of the time "
                         f"({sent.frames_held} frames held, {sent.keepalives} keep-alives)")
        if call.stats.redundancy is not None:
            lines.append(f"            redundancy adapted to {call.stats.redundancy} frames, "
                         f"{call.stats.frames_per_packet} frames a packet, after "
                         f"{call.stats.reports_received} receiver reports")
    else:
        lines.append("  sent      nothing")
    for stream in call.received():
        s = stream.stats
        recovered = s.frames_recovered_redundancy + s.frames_recovered_parity
        lines.append(f"  received  {stream.name} (id {stream.sender_id}): {s.packets_received} packets, "
                     f"{s.packets_lost} lost, {recovered} frames recovered, "
                     f"{stream.unplayed_frames()} frames not played, "
                     f"{s.frames_comfort} of comfort noise, "
                     f"jitter buffer {s.playout_delay_mean_ms:.0f} ms")
    if not call.streams and not call.received():
        lines.append("  received  nothing")
    if call.stats.malformed:
        lines.append(f"  dropped   {call.stats.malformed} malformed packets")
    if call.stats.dropped:
        reasons = {"replayed": "repeated or replayed"}  # a sender's repeats of its last packet look the same
        lines.append("  dropped   " + ", ".join(f"{n} {reasons.get(reason, reason)}"
                                               for reason, n in sorted(call.stats.dropped.items())) + " packets")
    if call.stats.reconnects:
        lines.append(f"  reconnected {call.stats.reconnects} times")
    lines += [f"  wrote     {p}" for p in written]
    return "\n".join(lines)
