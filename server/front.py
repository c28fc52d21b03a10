"""The front of a multi-worker server: one public port, every room's sockets to its worker.

The front accepts the signaling WebSocket, waits for the client's ``join``, asks the
:class:`~server.worker_directory.WorkerDirectory` which worker owns the room, and from then on
pipes messages both ways between the client and that worker's ``/ws`` on loopback (the worker
does everything else: limits, tokens, the peer, the relay; it sees the client's address in
``X-Forwarded-For``). Media goes straight between the client and the worker (ICE). The front
also serves the page, ``/healthz`` and one ``/metrics`` summed over the workers. With a
shared :class:`~server.node_directory.NodeDirectory` (``--redis``), a room owned by another
node has its sockets piped to that node's front instead.
"""
from __future__ import annotations

import asyncio
import logging
from collections import Counter as TallyCounter
from typing import Callable

import aiohttp
from aiohttp import WSMsgType, web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest
from redis.exceptions import RedisError

from server.access import origin_allowed
from server.config import ServerConfig
from server.metrics_merge import MergedCollector
from server.node_directory import NodeDirectory
from server.pages import page_app
from server.signaling import SignalingError, error_message, parse_client_message
from server.worker_directory import NoWorker, WorkerDirectory

logger = logging.getLogger(__name__)

CLOSE_POLICY = 1008
CLOSE_GOING_AWAY = 1001
CLOSE_TRY_AGAIN = 1013
SCRAPE_TIMEOUT_S = 2.0
FORWARDED_FOR = "X-Forwarded-For"
NODE_HOP = "X-Focalcall-Node-Hop"  # set on sockets one node proxies to another


class FrontMetrics:
    """What only the front knows: workers up, restarts, sockets it holds, scrape failures."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.workers = Gauge("focalcall_workers_up", "Worker processes running and answering", registry=r)
        self.restarts = Counter("focalcall_worker_restarts", "Worker processes restarted after they died",
                                registry=r)
        self.front_sockets = Gauge("focalcall_front_sockets", "Signaling sockets the front proxies to a worker",
                                   registry=r)
        self.scrape_failures = Counter("focalcall_worker_scrape_failures",
                                       "Worker /metrics scrapes that failed (their samples are missing)", registry=r)
        self.limit_hits = Counter("focalcall_front_limit_hits", "Sockets the front refused: a limit bit",
                                  ["limit"], registry=r)
        self.node_proxied = Counter("focalcall_node_proxied_sockets",
                                    "Signaling sockets sent on to the room's owner node", registry=r)
        self.merged = MergedCollector()
        r.register(self.merged)


class Front:
    """The public side of ``focalcall serve --workers N`` (N > 1, or any N with ``--redis``):
    with ``nodes``, rooms owned by another node are proxied there."""

    def __init__(self, config: ServerConfig, directory: WorkerDirectory,
                 worker_url: Callable[[int], str | None], nodes: NodeDirectory | None = None) -> None:
        self.config = config
        self.nodes = nodes
        self.limits = config.limits
        self.directory = directory
        self.worker_url = worker_url
        self.metrics = FrontMetrics()
        self.draining = False
        self._http: aiohttp.ClientSession | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._per_address: TallyCounter[str] = TallyCounter()

    def make_app(self) -> web.Application:
        app = page_app(self.config, self.websocket, self.healthz, self.prometheus)
        app.on_cleanup.append(self._close_http)
        return app

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=5))
        return self._http

    async def _close_http(self, app: web.Application) -> None:
        if self._http is not None:
            await self._http.close()

    async def healthz(self, request: web.Request) -> web.Response:
        up = len(self.directory.live)
        ok = not self.draining and up > 0
        return web.json_response({"status": "ok" if ok else ("draining" if self.draining else "no-workers"),
                                  "rooms": self.directory.room_count, "participants": self.directory.socket_count,
                                  "workers": up}, status=200 if ok else 503)

    async def prometheus(self, request: web.Request) -> web.Response:
        urls = [url for url in map(self.worker_url, sorted(self.directory.live)) if url is not None]
        texts = await asyncio.gather(*(self._scrape(url) for url in urls))
        self.metrics.merged.update(t for t in texts if t is not None)
        self.metrics.workers.set(len(self.directory.live))
        self.metrics.front_sockets.set(len(self._sockets))
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _scrape(self, url: str) -> str | None:
        try:
            async with self.http.get(url + "metrics", timeout=aiohttp.ClientTimeout(total=SCRAPE_TIMEOUT_S)) as r:
                return await r.text()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            self.metrics.scrape_failures.inc()
            logger.info("could not scrape %s: %s", url, exc)
            return None

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        """Hold the client's socket until it joins, then pipe it to the room's worker."""
        if self.draining:
            raise web.HTTPServiceUnavailable(text="the server is shutting down; reconnect shortly\n")
        if not origin_allowed(request.headers.get("Origin"), request.host, self.config.allowed_origins):
            raise web.HTTPForbidden(text="this page's origin may not use this server's signaling\n")
        address = request.remote or "unknown"
        if self._per_address[address] >= self.limits.sockets_per_address:
            self.metrics.limit_hits.labels("sockets-per-address").inc()
            raise web.HTTPTooManyRequests(text=f"more than {self.limits.sockets_per_address} connections "
                                               "from this address\n")
        self._per_address[address] += 1  # before the first await, as in the workers
        ws = web.WebSocketResponse(max_msg_size=4 * self.limits.max_message_bytes,
                                   heartbeat=self.limits.heartbeat_seconds)
        self._sockets.add(ws)
        try:
            await ws.prepare(request)
            joined = await self._await_join(ws)
            if joined is not None:
                await self._proxy(request, ws, *joined)
        finally:
            self._sockets.discard(ws)
            self._per_address[address] -= 1
            if not self._per_address[address]:
                del self._per_address[address]
            if ws.prepared and not ws.closed:
                await ws.close()
        return ws

    async def _await_join(self, ws: web.WebSocketResponse) -> tuple[str, str | bytes] | None:
        """The room and the raw text of the client's first valid ``join``; other messages before
        it get the error a worker would give (nothing reaches a worker before a join)."""
        deadline = asyncio.get_running_loop().time() + self.limits.join_seconds
        for _ in range(self.limits.message_burst):
            timeout = deadline - asyncio.get_running_loop().time()
            try:
                msg = await ws.receive(timeout=max(0.0, timeout))
            except asyncio.TimeoutError:
                await _end(ws, "join-timeout", f"no join within {self.limits.join_seconds:g} s")
                return None
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                return None
            try:
                message = parse_client_message(msg.data, self.limits.max_message_bytes, self.limits.max_json_depth,
                                               self.limits.max_sdp_bytes)
            except SignalingError as exc:
                await ws.send_json(error_message(exc.code, str(exc)))
                continue
            if message.type == "leave":
                return None
            if message.type != "join":
                await ws.send_json(error_message("not-joined", "send 'join' before 'offer'"))
                continue
            return message.fields["room"], msg.data
        await _end(ws, "rate-limited", "too many messages before joining: closing")
        return None

    async def _proxy(self, request: web.Request, ws: web.WebSocketResponse, room: str, join: str | bytes) -> None:
        """Send the socket to the room's owner: another node (through Redis) or a worker here."""
        if self.nodes is not None:
            try:
                owner = await self.nodes.claim(room)
            except RedisError as exc:
                logger.warning("room directory unavailable: %s", exc)
                await _end(ws, "unavailable", "the room directory is not answering; reconnect shortly",
                           CLOSE_TRY_AGAIN)
                return
            if owner != self.nodes.node:
                if NODE_HOP in request.headers:  # the owner changed while the socket travelled: no loops
                    await _end(ws, "unavailable", "the room is moving; reconnect shortly", CLOSE_TRY_AGAIN)
                    return
                self.metrics.node_proxied.inc()
                await self._connect(request, ws, owner + "ws", room, join, {NODE_HOP: "1"})
                return
        try:
            worker = self.directory.route(room)
        except NoWorker:
            await _end(ws, "unavailable", "no worker is running; reconnect shortly", CLOSE_TRY_AGAIN)
            return
        try:
            await self._count_sockets(room)
            url = self.worker_url(worker)
            if url is None:
                await _end(ws, "unavailable", "the room's worker is restarting; reconnect shortly", CLOSE_TRY_AGAIN)
                return
            await self._connect(request, ws, url + "ws", room, join, {})
        finally:
            if self.directory.release(room, worker) and self.nodes is not None:
                try:
                    await self.nodes.release(room)
                except RedisError as exc:  # the owner's heartbeat lapsing frees it anyway
                    logger.info("could not release room in Redis: %s", exc)
            else:
                await self._count_sockets(room)

    async def _count_sockets(self, room: str) -> None:
        """Tell the shared directory how many sockets this owner holds in ``room``."""
        if self.nodes is not None and self.directory.sockets(room):
            try:
                await self.nodes.set_sockets(room, self.directory.sockets(room))
            except RedisError as exc:
                logger.info("could not count sockets in Redis: %s", exc)

    async def _connect(self, request: web.Request, ws: web.WebSocketResponse, url: str, room: str,
                       join: str | bytes, extra: dict[str, str]) -> None:
        """Open the upstream socket (a worker's or the owner node's), send the join, then pipe."""
        headers = {FORWARDED_FOR: request.remote or "unknown", "Host": request.host, **extra}
        if "Origin" in request.headers:
            headers["Origin"] = request.headers["Origin"]
        try:
            upstream = await self.http.ws_connect(url, headers=headers, autoping=True,
                                                  max_msg_size=4 * self.limits.max_message_bytes)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            logger.info("%s refused a socket: %s", url, exc)
            await _end(ws, "unavailable", "the room's server is not answering; reconnect shortly", CLOSE_TRY_AGAIN)
            return
        async with upstream:
            await _send(upstream, join)
            await self._pipe(ws, upstream, room)

    async def _pipe(self, ws: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse, room: str) -> None:
        """Both directions until either side closes; the other side is then closed too."""

        async def client_to_worker() -> None:
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                if _joins_another_room(msg.data, room):
                    await _end(ws, "bad-room", "one room per connection: connect again to join another room")
                    break
                await _send(upstream, msg.data)

        async def worker_to_client() -> None:
            async for msg in upstream:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                await _send(ws, msg.data)

        tasks = [asyncio.create_task(client_to_worker()), asyncio.create_task(worker_to_client())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if not ws.closed:  # the worker ended it (or died): pass its close code on
            code = upstream.close_code if upstream.closed and upstream.close_code else CLOSE_GOING_AWAY
            await ws.close(code=code)
        if not upstream.closed:
            await upstream.close()

    async def drain(self) -> None:
        """Refuse new sockets; the workers drain the ones they hold."""
        self.draining = True


def _joins_another_room(data: str | bytes, room: str) -> bool:
    """Whether a message is a join naming another room than the socket's (a worker would
    take it: a room split over two workers)."""
    try:
        message = parse_client_message(data)
    except SignalingError:
        return False
    return message.type == "join" and message.fields["room"] != room


async def _send(ws: web.WebSocketResponse | aiohttp.ClientWebSocketResponse, data: str | bytes) -> None:
    if ws.closed:
        return
    try:
        if isinstance(data, str):
            await ws.send_str(data)
        else:
            await ws.send_bytes(data)
    except (ConnectionError, RuntimeError) as exc:
        logger.debug("could not forward a message: %s", exc)


async def _end(ws: web.WebSocketResponse, code: str, text: str, close_code: int = CLOSE_POLICY) -> None:
    if not ws.closed:
        try:
            await ws.send_json(error_message(code, text))
        except (ConnectionError, RuntimeError):
            pass
        await ws.close(code=close_code, message=code.encode())

