"""Helpers shared by the tests: real speech made with espeak-ng, alignment."""
from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np

SENTENCES = (
    "The quick brown fox jumps over the lazy dog while the birds sing in the morning.",
    "Please call Stella and ask her to bring these things with her from the store.",
)


def espeak_wav(path: Path, text: str = SENTENCES[0], voice: str = "en-us") -> Path:
    """Synthesize ``text`` with espeak-ng into a 22.05 kHz mono 16-bit WAV at ``path``."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (scripts/setup.sh installs it)")
    subprocess.run([exe, "-v", voice, "-s", "150", "-w", str(path), text], check=True)
    return path


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Read a 16-bit PCM WAV into float32 mono samples and its rate."""
    with wave.open(str(path), "rb") as w:
        rate, channels = w.getframerate(), w.getnchannels()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768
    return data.reshape(-1, channels).mean(axis=1), rate


def best_lag(reference: np.ndarray, signal: np.ndarray, max_lag: int) -> int:
    """Lag (in samples) of ``signal`` relative to ``reference`` maximising their correlation."""
    n = min(len(reference), len(signal))
    best, best_corr = 0, -np.inf
    for lag in range(-max_lag, max_lag + 1):
        a = reference[max(0, -lag): n - max(0, lag)]
        b = signal[max(0, lag): n - max(0, -lag)]
        m = min(len(a), len(b))
        corr = float(np.dot(a[:m], b[:m]))
        if corr > best_corr:
            best, best_corr = lag, corr
    return best


async def start_server(config=None):
    """Run a :class:`server.app.CallServer` on 127.0.0.1 at a free port; returns (server, runner, url)."""
    from aiohttp import web

    from server.app import CallServer
    from server.config import ServerConfig

    server = CallServer(config or ServerConfig(port=0))
    runner = web.AppRunner(server.make_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return server, runner, f"http://127.0.0.1:{port}/"


def metric_value(text: str, name: str, labels: str = "") -> float:
    """Read one sample from Prometheus exposition ``text`` (0 if absent)."""
    key = f"{name}{{{labels}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(key + " "):
            return float(line.split()[-1])
    return 0.0
