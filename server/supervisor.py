"""``focalcall serve --workers N``: N worker processes behind one front, restarted when they die.

Each worker is a whole single-process server (its own event loop, aiohttp app, aiortc peers,
rooms and metrics) listening on a loopback port of its own; the front (server/front.py) owns
the public port and sends every room's sockets to one worker. A worker that dies loses its
rooms at once (its sockets close, so its participants reconnect, and their rooms are created
again on a live worker) and is started again. Workers get SIGTERM if the supervisor dies.
With ``--redis``, the node joins the shared room directory once its workers are up and leaves
it first thing when it drains.
"""
from __future__ import annotations

import asyncio
import ctypes
import logging
import re
import signal
import sys
import time
from dataclasses import dataclass

from aiohttp import web

from server.config import ServerConfig
from server.front import Front
from server.node_directory import NodeDirectory
from server.worker_directory import WorkerDirectory

logger = logging.getLogger(__name__)

READY_RE = re.compile(r"^focalcall worker listening on (http://127\.0\.0\.1:\d+/)")
READY_TIMEOUT_S = 60.0
QUICK_DEATH_S = 5.0  # a worker that dies this soon after starting is restarted after a pause
MAX_PAUSE_S = 5.0
_PR_SET_PDEATHSIG = 1


@dataclass
class Worker:
    """One worker process slot: the process now running in it and where it listens."""

    index: int
    process: asyncio.subprocess.Process | None = None
    url: str | None = None
    restarts: int = 0
    output: asyncio.Task | None = None  # passes its stdout on


class Supervisor:
    """Starts the workers, keeps them running, and stops them."""

    def __init__(self, config: ServerConfig, worker_argv: list[str], count: int,
                 nodes: NodeDirectory | None = None) -> None:
        if count < 1:
            raise ValueError("a supervisor runs at least one worker")
        self.config = config
        self.worker_argv = worker_argv
        self.directory = WorkerDirectory()
        self.workers = [Worker(i) for i in range(count)]
        self.nodes = nodes
        self.front = Front(config, self.directory, lambda i: self.workers[i].url, nodes)
        self.stopping = False
        self._keepers: list[asyncio.Task] = []
        self._ready = asyncio.Event()

    async def start(self) -> None:
        """Start every worker; return once all answer (or raise if one cannot start); then
        join the shared room directory, if any."""
        self._keepers = [asyncio.create_task(self._keep(w)) for w in self.workers]
        while len(self.directory.live) < len(self.workers):
            if any(k.done() for k in self._keepers):
                for k in self._keepers:
                    if k.done() and k.exception() is not None:
                        raise k.exception()
                raise RuntimeError("a worker stopped while starting")
            await asyncio.sleep(0.05)
        if self.nodes is not None:
            await self.nodes.start()

    async def _keep(self, worker: Worker) -> None:
        pause = 0.0
        while not self.stopping:
            started = time.monotonic()
            try:
                await self._spawn(worker)
            except RuntimeError:
                if not worker.restarts:  # the first start: the whole server fails to start
                    raise
                logger.exception("worker %d did not start again", worker.index)
            else:
                await worker.process.wait()
            self.directory.worker_down(worker.index)
            worker.url = None
            if self.stopping:
                return
            worker.restarts += 1
            self.front.metrics.restarts.inc()
            logger.warning("worker %d exited with %s; restarting", worker.index, worker.process.returncode)
            print(f"focalcall: worker {worker.index} exited ({worker.process.returncode}); restarting", flush=True)
            pause = min(MAX_PAUSE_S, max(0.25, 2 * pause)) if time.monotonic() - started < QUICK_DEATH_S else 0.0
            await asyncio.sleep(pause)

    async def _spawn(self, worker: Worker) -> None:
        worker.process = await asyncio.create_subprocess_exec(
            *self.worker_argv, stdout=asyncio.subprocess.PIPE, preexec_fn=_die_with_parent)
        try:
            line = await asyncio.wait_for(worker.process.stdout.readline(), READY_TIMEOUT_S)
        except asyncio.TimeoutError:
            line = b"(nothing within %d s)" % READY_TIMEOUT_S
        match = READY_RE.match(line.decode(errors="replace"))
        if match is None:
            if worker.process.returncode is None:
                worker.process.kill()
            await worker.process.wait()
            raise RuntimeError(f"worker {worker.index} did not start: {line!r}")
        worker.url = match.group(1)
        worker.output = asyncio.create_task(_drain_output(worker.process.stdout))
        self.directory.worker_up(worker.index)
        if worker.restarts:  # the first start of each is announced with the serving line
            self.announce(worker)

    @staticmethod
    def announce(worker: Worker) -> None:
        print(f"focalcall: worker {worker.index} pid {worker.process.pid} on {worker.url}", flush=True)

    async def stop(self, seconds: float) -> None:
        """Tell every worker to drain (SIGTERM), wait up to ``seconds`` and a margin, then kill."""
        self.stopping = True
        await self.front.drain()
        if self.nodes is not None:  # our rooms are free for other nodes at once
            await self.nodes.stop()
        self._signal_all(signal.SIGTERM)
        deadline = asyncio.get_running_loop().time() + seconds + 3.0
        while any(_running(w) for w in self.workers) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        self._signal_all(signal.SIGKILL)
        await asyncio.gather(*self._keepers, return_exceptions=True)

    def hurry(self) -> None:
        """A second signal: workers stop at once."""
        self._signal_all(signal.SIGTERM)

    def _signal_all(self, sig: int) -> None:
        for w in self.workers:
            if _running(w):
                w.process.send_signal(sig)


def _running(worker: Worker) -> bool:
    return worker.process is not None and worker.process.returncode is None


def _die_with_parent() -> None:
    """In the worker, before exec: get SIGTERM when the supervisor dies (Linux prctl)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


async def _drain_output(stream: asyncio.StreamReader) -> None:
    """Pass a worker's later stdout lines on (drain messages), so its pipe never fills."""
    while line := await stream.readline():
        sys.stdout.write(line.decode(errors="replace"))
        sys.stdout.flush()


async def supervise(config: ServerConfig, worker_argv: list[str], count: int,
                    redis_url: str | None = None, node_url: str | None = None) -> None:
    """Run the front and ``count`` workers until SIGTERM or SIGINT, then drain them all. With
    ``redis_url``, rooms are shared with the other nodes of that Redis; this one is ``node_url``."""
    nodes = None
    if redis_url is not None:
        nodes = NodeDirectory(redis_url, node_url or f"http://{config.host}:{config.port}/")
    supervisor = Supervisor(config, worker_argv, count, nodes)
    signals: asyncio.Queue[int] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, signals.put_nowait, sig)
    runner = web.AppRunner(supervisor.front.make_app(), handle_signals=False, access_log=None)
    try:
        await supervisor.start()
        await runner.setup()
        site = web.TCPSite(runner, config.host, config.port)
        await site.start()
        opened = "open rooms" if config.rooms_are_open else "room tokens required"
        shared = f", rooms shared through Redis as {nodes.node}" if nodes is not None else ""
        print(f"focalcall serving on http://{config.host}:{config.port}/ ({opened}) with {count} workers{shared}",
              flush=True)
        for worker in supervisor.workers:
            supervisor.announce(worker)
        await signals.get()
        print("focalcall: draining (new connections refused; a second signal stops at once)", flush=True)
        await site.stop()
        stop = asyncio.create_task(supervisor.stop(config.drain_seconds))
        again = asyncio.create_task(signals.get())
        await asyncio.wait([stop, again], return_when=asyncio.FIRST_COMPLETED)
        if not stop.done():
            supervisor.hurry()
            await stop
        again.cancel()
    finally:
        if not supervisor.stopping:
            await supervisor.stop(0)
        await runner.cleanup()
    print("focalcall: stopped", flush=True)
