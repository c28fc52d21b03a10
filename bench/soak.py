"""Soak: a server under hours' worth of comings and goings, compressed into minutes.

``focalcall serve`` runs in a process of its own; this process keeps up, for ``--minutes``:
signaling-only join/leave cycles (a socket joins a room, leaves, closes: ``--cycles-per-second``),
short two-party calls (real WebRTC, real-size packets, receiver reports; ``--calls`` at once,
each ``--call-seconds`` long, a new one as soon as one ends), and abuse that must not cost
memory either: sockets that never join, refused joins, malformed messages. Every
``--sample-seconds`` it reads the server's resident memory and open files (/proc).

It reports RSS at each minute, the growth from ``--baseline-minute`` to the end (the issue's
bound: < 5 % from minute 10), the RSS slope fitted after the baseline minute, and the open
files' range. ``--write`` puts the result into BENCHMARKS.md under :data:`HEADING`.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

import aiohttp
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.mdsection import update_section  # noqa: E402
from rtc.ice import IceSettings  # noqa: E402
from loadgen.peer import TrafficConfig, two_party_call  # noqa: E402

HEADING = "## Soak (bench/soak.py)"


@dataclass
class Sample:
    seconds: float
    rss_kb: int
    open_files: int
    participants: int


@dataclass
class Totals:
    cycles: int = 0
    calls: int = 0
    call_failures: int = 0
    packets_sent: int = 0
    packets_received: int = 0
    abuse: int = 0
    errors: list[str] = field(default_factory=list)


def proc_status(pid: int) -> tuple[int, int]:
    """(resident KB, open file descriptors) of process ``pid``."""
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    argv = [sys.executable, "-m", "focalcall", "serve", "--port", str(port), "--max-sockets-per-address", "100000",
            "--join-timeout", "2"]
    server = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    if not line.startswith("focalcall serving on"):
        raise SystemExit(f"server did not start: {line}{server.stderr.read()[-2000:]}")
    return server


async def join_leave(http: aiohttp.ClientSession, url: str, k: int, totals: Totals) -> None:
    """One signaling-only visit: join a room (one of 50), leave, close."""
    async with http.ws_connect(url + "ws") as ws:
        await ws.send_json({"type": "join", "room": f"soak-{k % 50}", "name": f"visitor {k}"})
        reply = await ws.receive_json(timeout=10)
        if reply.get("type") != "joined":
            raise RuntimeError(f"join refused: {reply}")
        await ws.send_json({"type": "leave"})
        await ws.receive(timeout=10)
    totals.cycles += 1


async def abuse(http: aiohttp.ClientSession, url: str, k: int, totals: Totals) -> None:
    """A socket that misbehaves: junk, deep JSON, a bad room, or never joining at all."""
    async with http.ws_connect(url + "ws") as ws:
        kind = k % 4
        if kind == 0:
            await ws.send_str("{not json")
        elif kind == 1:
            await ws.send_str("[" * 5000 + "]" * 5000)
        elif kind == 2:
            await ws.send_json({"type": "join", "room": "bad room!", "name": "x"})
        if kind < 3:
            await ws.receive(timeout=10)
        else:
            await ws.receive(timeout=10)  # the join timeout closes it
    totals.abuse += 1


async def cycles(url: str, per_second: float, until: float, totals: Totals) -> None:
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task] = set()  # abusive sockets run beside the cycles (some wait to be closed)
    async with aiohttp.ClientSession() as http:
        k = 0
        start = loop.time()
        while loop.time() < until:
            k += 1
            visit = abuse(http, url, k // 10, totals) if k % 10 == 0 else join_leave(http, url, k, totals)
            task = asyncio.create_task(_counted(visit, f"cycle {k}", totals))
            if k % 10 == 0:
                pending.add(task)
                task.add_done_callback(pending.discard)
            else:
                await task
            await asyncio.sleep(max(0.0, start + k / per_second - loop.time()))
        await asyncio.gather(*pending)


async def _counted(visit, what: str, totals: Totals) -> None:
    try:
        await visit
    except (aiohttp.ClientError, asyncio.TimeoutError, RuntimeError) as exc:
        totals.errors.append(f"{what}: {exc!r}"[:200])


async def calls(url: str, slot: int, seconds: float, until: float, totals: Totals) -> None:
    config = TrafficConfig()
    ice = IceSettings(host_addresses=("127.0.0.1",))
    packets = max(1, round(seconds / config.packet_interval_s))
    loop = asyncio.get_running_loop()
    k = 0
    while loop.time() + seconds < until:
        k += 1
        try:
            result = await two_party_call(url, f"call-{slot}-{k % 20}", packets, config, ice)
            totals.calls += 1
            totals.packets_sent += result["sent"]
            totals.packets_received += result["received"]
        except Exception as exc:  # a failed call is a finding, not the end of the soak
            totals.call_failures += 1
            totals.errors.append(f"call {slot}/{k}: {exc!r}"[:200])


async def sample(server: subprocess.Popen, url: str, every: float, until: float, samples: list[Sample]) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    while loop.time() < until + 0.01:
        rss, files = proc_status(server.pid)
        health = await asyncio.to_thread(lambda: json.load(urllib.request.urlopen(url + "healthz", timeout=5)))
        samples.append(Sample(loop.time() - start, rss, files, health["participants"]))
        print(f"{samples[-1].seconds:7.0f} s  rss {rss / 1024:6.1f} MB  files {files:4d}  "
              f"participants {health['participants']:3d}", flush=True)
        await asyncio.sleep(every)


async def soak(args: argparse.Namespace) -> tuple[list[Sample], Totals]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server = start_server(port)
    samples: list[Sample] = []
    totals = Totals()
    try:
        until = asyncio.get_running_loop().time() + 60 * args.minutes
        await asyncio.gather(sample(server, url, args.sample_seconds, until, samples),
                             cycles(url, args.cycles_per_second, until, totals),
                             *(calls(url, slot, args.call_seconds, until, totals) for slot in range(args.calls)))
        await asyncio.sleep(3)  # let the last sessions close
        rss, files = proc_status(server.pid)
        samples.append(Sample(samples[-1].seconds + 3, rss, files, 0))
    finally:
        server.terminate()
        server.wait(30)
    return samples, totals


def at_minute(samples: list[Sample], minute: float) -> Sample:
    """The first sample at or after ``minute``."""
    return next(s for s in samples if s.seconds >= 60 * minute - 1e-6)


def markdown(samples: list[Sample], totals: Totals, args: argparse.Namespace, command: str) -> str:
    base = at_minute(samples, args.baseline_minute)
    last = samples[-1]
    after = [s for s in samples if s.seconds >= base.seconds]
    slope = 0.0
    if len(after) > 2:  # KB per minute
        slope = float(np.polyfit([s.seconds / 60 for s in after], [s.rss_kb for s in after], 1)[0])
    growth = 100 * (last.rss_kb - base.rss_kb) / base.rss_kb
    files = [s.open_files for s in after[:-1]]  # under load (calls hold UDP sockets)
    minutes = [at_minute(samples, m) for m in range(0, int(args.minutes) + 1) if 60 * m <= samples[-2].seconds]
    # Flat: steady under load, and back below that once everyone has gone (the idle count at the
    # start is before the first call loaded a codec, whose runtime keeps a few files open).
    flat = max(files) - min(files) <= 4 and last.open_files <= min(files)
    verdict = "PASS" if growth < 5 and flat else "FAIL"
    lines = [
        HEADING, "",
        f"{verdict}: server RSS {base.rss_kb / 1024:.1f} MB at minute {args.baseline_minute:g}, "
        f"{last.rss_kb / 1024:.1f} MB at the end ({growth:+.1f} %; fitted slope after minute "
        f"{args.baseline_minute:g}: {slope:+.0f} KB/min); open files {min(files)}-{max(files)} under load after "
        f"minute {args.baseline_minute:g}, {last.open_files} once everyone had gone ({samples[0].open_files} before "
        "the first call; bounds: RSS growth < 5 %, open files flat).", "",
        f"In {args.minutes:g} minutes: {totals.cycles} signaling join/leave cycles, {totals.abuse} abusive sockets "
        f"(junk, deep JSON, bad rooms, never joining), {totals.calls} two-party calls of {args.call_seconds:g} s "
        f"({args.calls} at a time; {totals.call_failures} failed) carrying {totals.packets_sent} packets, "
        f"{totals.packets_received} received.", "",
        "| minute | RSS (MB) | open files |", "| --- | --- | --- |",
        *(f"| {s.seconds / 60:.0f} | {s.rss_kb / 1024:.1f} | {s.open_files} |" for s in minutes),
        f"| end | {last.rss_kb / 1024:.1f} | {last.open_files} |", "",
        f"Command: `{command}` ({time.strftime('%Y-%m-%d')}, {platform.node()}: {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, shared with other work). The server is `focalcall serve` on "
        "loopback (uvloop) in its own process; RSS and open files from /proc every "
        f"{args.sample_seconds:g} s. The first minute's rise is the neural codec's model, loaded once to learn "
        "the senders' codec delay and budget; the 3 files it adds are onnxruntime's.",
    ]
    if totals.errors:
        lines += ["", f"Errors ({len(totals.errors)}; first 3): " + "; ".join(totals.errors[:3])]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=15.0, help="how long (default 15)")
    parser.add_argument("--baseline-minute", type=float, default=10.0,
                        help="growth is measured from this minute to the end (default 10)")
    parser.add_argument("--cycles-per-second", type=float, default=20.0,
                        help="signaling join/leave cycles a second (default 20; every 10th misbehaves)")
    parser.add_argument("--calls", type=int, default=2, help="two-party calls at a time (default 2)")
    parser.add_argument("--call-seconds", type=float, default=20.0, help="length of each call (default 20)")
    parser.add_argument("--sample-seconds", type=float, default=10.0, help="sampling period (default 10)")
    parser.add_argument("--json", type=Path, help="also write the samples and totals as JSON here")
    parser.add_argument("--write", action="store_true", help="put the result into BENCHMARKS.md")
    args = parser.parse_args(argv)
    if not 0 <= args.baseline_minute < args.minutes:
        parser.error("--baseline-minute must lie within the soak")
    samples, totals = asyncio.run(soak(args))
    command = " ".join(["python bench/soak.py", *(argv if argv is not None else sys.argv[1:])])
    text = markdown(samples, totals, args, command)
    print(text)
    if args.json:
        args.json.write_text(json.dumps({"samples": [asdict(s) for s in samples], "totals": asdict(totals)}, indent=1))
    if args.write:
        update_section(ROOT / "BENCHMARKS.md", HEADING, text.split("\n", 2)[2])
    return 0 if text.split("\n")[2].startswith("PASS") else 1


if __name__ == "__main__":
    raise SystemExit(main())
