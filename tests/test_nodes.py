"""Two `focalcall serve` nodes sharing rooms through a real redis-server on loopback: peers that
join one room through different nodes hear each other; when the owner dies, the room is
re-created on the survivor."""
from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from pystoi import stoi

from codec.registry import get_codec
from codec.roundtrip import roundtrip
from codec.wavio import read_wav
from tests.test_attacks import CODEC, ROOT, _collect, _first_hearing, free_port
from tests.utils import SENTENCES, espeak_wav

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs Debian's redis-server")


def start_redis(port: int) -> subprocess.Popen:
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            return server
        except redis.ConnectionError:
            time.sleep(0.05)
    server.kill()
    raise AssertionError("redis-server did not answer")


def start_node(port: int, redis_url: str, log: Path) -> subprocess.Popen:
    node = subprocess.Popen([sys.executable, "-m", "focalcall", "serve", "--port", str(port), "--workers", "1",
                             "--redis", redis_url], cwd=ROOT, stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
    while line := node.stdout.readline():
        if line.startswith("focalcall serving on"):
            assert "rooms shared through Redis" in line, line
            return node
    raise AssertionError(log.read_text())


def join(url: str, name: str, wav: Path | None, out: Path, duration: float = 60) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "focalcall", "join", "shared", "--server", url, "--name", name, "--codec", CODEC,
         "--input", str(wav) if wav else "none", "--duration", str(duration), "--output-dir", str(out)],
        cwd=ROOT, stderr=subprocess.PIPE, text=True)


async def test_peers_on_two_nodes_hear_each_other_and_the_room_moves_to_the_survivor(tmp_path):
    redis_port = free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    store = start_redis(redis_port)
    directory = redis.Redis(port=redis_port, decode_responses=True)
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{p}/" for p in ports]
    logs = [tmp_path / f"node{i}.log" for i in range(2)]
    nodes = [start_node(p, redis_url, log) for p, log in zip(ports, logs)]
    speech = espeak_wav(tmp_path / "bo.wav", SENTENCES[1])
    lines: dict[str, list[str]] = {}
    peers: dict[str, subprocess.Popen] = {}
    readers = []

    def start_peer(name: str, node: int, wav: Path | None, duration: float = 60) -> None:
        lines[name] = []
        peers[name] = join(urls[node], name, wav, tmp_path / name, duration)
        readers.append(asyncio.create_task(_collect(peers[name].stderr, lines[name])))

    async def until(check, what: str, seconds: float = 30) -> None:
        deadline = time.time() + seconds
        while time.time() < deadline:
            if check():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{what}: {lines}\n" + "\n".join(log.read_text()[-3000:] for log in logs))

    try:
        start_peer("Ada", 0, espeak_wav(tmp_path / "ada.wav", " ".join(SENTENCES * 2)), duration=25)
        await until(lambda: directory.hget("focalcall:room:shared", "node") == urls[0], "Ada's node owns the room")
        start_peer("Bo", 1, speech, duration=40)  # through the other node: proxied to the owner
        await until(lambda: all(_first_hearing(lines[n], 0) for n in ("Ada", "Bo")), "Ada and Bo hear each other")
        await asyncio.to_thread(peers["Ada"].wait, 60)
        [heard] = list((tmp_path / "Ada").iterdir())
        assert directory.hget("focalcall:room:shared", "node") in (urls[0], None)  # Ada's leaving may free it

        nodes[0].kill()  # the owner dies (its worker follows); its heartbeat lapses
        killed = time.time()
        # Until the dead owner's heartbeat lapses (3 s) joins are refused with "reconnect shortly";
        # Bo, already in the call, retries by himself, and once he is back the room is on node 1.
        await until(lambda: any("connected: in room" in line for line in lines["Bo"]), "Bo rejoins")
        start_peer("Cy", 1, espeak_wav(tmp_path / "cy.wav", " ".join(SENTENCES * 2)), duration=20)
        start_peer("Di", 1, espeak_wav(tmp_path / "di.wav", " ".join(SENTENCES * 2)), duration=20)
        await until(lambda: all(_first_hearing(lines[n], killed) for n in ("Cy", "Di")), "Cy and Di hear each other")
        assert directory.hget("focalcall:room:shared", "node") == urls[1]
        for p in peers.values():
            p.send_signal(signal.SIGINT)
        for p in peers.values():
            await asyncio.to_thread(p.wait, 30)
        await asyncio.gather(*readers)
    finally:
        for p in [*peers.values(), *nodes]:
            p.kill()
        store.kill()
    codec = get_codec(CODEC)
    offline = roundtrip(codec, read_wav(speech, 16000), 16000)
    live = read_wav(heard, 16000)
    n = min(len(live), len(offline))
    assert stoi(offline[:n], live[:n], 16000) >= 0.9  # Ada (node 0) heard Bo (node 1) as the codec gives it


async def test_a_first_join_refused_for_a_while_retries_until_the_room_directory_is_back(tmp_path):
    redis_port = free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    store = start_redis(redis_port)
    port = free_port()
    log = tmp_path / "node.log"
    node = start_node(port, redis_url, log)
    lines: list[str] = []
    peer = None
    try:
        store.kill()  # the room directory stops answering: joins are refused with "reconnect shortly"
        store.wait(10)
        peer = join(f"http://127.0.0.1:{port}/", "Ada", None, tmp_path / "Ada", duration=30)
        reader = asyncio.create_task(_collect(peer.stderr, lines))
        deadline = time.time() + 30
        while not any("reconnect shortly" in line for line in lines):
            assert time.time() < deadline and peer.poll() is None, f"no passing refusal: {lines}"
            await asyncio.sleep(0.05)
        store = start_redis(redis_port)  # the directory is back: the same first join gets in
        while not any("connected: in room" in line for line in lines):
            assert time.time() < deadline + 30 and peer.poll() is None, f"{lines}\n{log.read_text()[-3000:]}"
            await asyncio.sleep(0.05)
        peer.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(peer.wait, 30) == 0
        await reader
    finally:
        for p in (peer, node, store):
            if p is not None:
                p.kill()
