"""`focalcall serve --workers 2`: rooms on their worker, /metrics over both, a killed worker's
calls back within 3 s while the other worker's call does not notice. Real CLI peers, loopback."""
from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.test_attacks import CODEC, ROOT, _collect, _first_hearing, free_port, long_speech, scrape
from tests.utils import metric_value

WORKER_RE = re.compile(r"^focalcall: worker (\d+) pid (\d+) on ")


def serve_workers(port: int, log: Path, workers: int = 2) -> tuple[subprocess.Popen, dict[int, int]]:
    """The supervisor and its workers; returns it and worker index -> pid, once it listens."""
    server = subprocess.Popen([sys.executable, "-m", "focalcall", "serve", "--port", str(port), "--workers",
                               str(workers)], cwd=ROOT, stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
    line = server.stdout.readline()
    assert line.startswith("focalcall serving on") and f"{workers} workers" in line, line
    pids = {}
    for _ in range(workers):
        match = WORKER_RE.match(server.stdout.readline())
        pids[int(match.group(1))] = int(match.group(2))
    return server, pids


def join(url: str, room: str, name: str, wav, out) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "focalcall", "join", room, "--server", url, "--name", name, "--codec", CODEC,
         "--input", str(wav), "--duration", "60", "--output-dir", str(out)], cwd=ROOT, stderr=subprocess.PIPE, text=True)


async def test_a_killed_worker_s_calls_are_back_within_3_s_and_the_other_call_does_not_notice(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server, pids = serve_workers(port, tmp_path / "server.log")
    rooms = {"alpha": ("Ada", "Bo"), "beta": ("Cy", "Di")}
    lines = {name: [] for names in rooms.values() for name in names}
    peers, readers = {}, []

    async def heard_after(names, t0: float) -> dict[str, float]:
        deadline = time.time() + 30
        while time.time() < deadline:
            found = {n: _first_hearing(lines[n], t0) for n in names}
            if all(v is not None for v in found.values()):
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(f"not heard: {lines}")

    try:
        for room, names in rooms.items():  # alpha first: it goes to worker 0, beta to worker 1
            for name in names:
                peers[name] = join(url, room, name, long_speech(tmp_path / f"{name}.wav", 4), tmp_path / name)
                readers.append(asyncio.create_task(_collect(peers[name].stderr, lines[name])))
            await heard_after(names, 0)
        metrics = scrape(url)
        assert metric_value(metrics, "focalcall_rooms") == 2 and metric_value(metrics, "focalcall_participants") == 4
        assert metric_value(metrics, "focalcall_workers_up") == 2
        with urllib.request.urlopen(url + "healthz", timeout=5) as r:
            assert b'"workers": 2' in r.read()

        killed = time.time()
        subprocess.run(["kill", "-KILL", str(pids[0])], check=True)
        heard = await heard_after(rooms["alpha"], killed)
        await asyncio.sleep(2.0)
        for p in peers.values():
            p.send_signal(signal.SIGINT)
        for p in peers.values():
            await asyncio.to_thread(p.wait, 30)
        await asyncio.gather(*readers)
        metrics = scrape(url)
    finally:
        for p in peers.values():
            p.kill()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
    print("\nheard again after the kill: " + ", ".join(f"{n} {at - killed:.2f} s" for n, at in heard.items()))
    for name, at in heard.items():
        assert at - killed <= 3.0, f"{name} heard the other {at - killed:.2f} s after the worker was killed"
        assert "reconnected 1 times" in "\n".join(lines[name])
    for name in rooms["beta"]:
        text = "\n".join(lines[name])
        assert peers[name].returncode == 0, text
        assert "reconnect" not in text, text
        assert re.search(r"received  \w+ \(id \d\): \d+ packets, 0 lost", text), text
    assert metric_value(metrics, "focalcall_worker_restarts_total") == 1
    assert server.returncode == 0
