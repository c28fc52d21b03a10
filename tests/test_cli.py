"""The focalcall command line as a user runs it: help, serve, join, one-line errors."""
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from codec.wavio import read_wav
from tests.utils import best_lag

ROOT = Path(__file__).resolve().parent.parent


def focalcall(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "focalcall", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("args", [[], ["serve"], ["join"], ["codec", "roundtrip"], ["codec", "list"]])
def test_help_describes_every_command(args):
    result = focalcall(*args, "--help")
    assert result.returncode == 0, result.stderr
    assert "usage: focalcall" in result.stdout
    if not args:
        for command in ("serve", "join", "codec"):
            assert command in result.stdout


def test_building_the_parser_loads_no_heavy_library():
    """``focalcall --help`` stays quick: scipy, torch, aiortc and onnxruntime load on use."""
    probe = ("import sys; from focalcall.cli import build_parser; build_parser(); "
             "print(' '.join(m for m in ('scipy', 'torch', 'aiortc', 'onnxruntime') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == []


def test_join_with_a_bad_wav_prints_one_line_not_a_traceback(tmp_path):
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"this is not audio at all")
    for path in (garbage, tmp_path / "missing.wav"):
        result = focalcall("join", "room", "--input", str(path), "--server", "http://127.0.0.1:9/")
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("focalcall join: error:"), result.stderr
        assert str(path.name) in lines[0]


def test_join_with_an_unknown_codec_or_bad_room_says_so():
    result = focalcall("join", "room", "--codec", "mp3-128k")
    assert result.returncode == 2 and "mp3-128k" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.network
def test_serve_and_two_cli_peers_make_a_call(tmp_path, speech_wav):
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server = subprocess.Popen([sys.executable, "-m", "focalcall", "serve", "--port", str(port)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().startswith(f"focalcall serving on {url} (open rooms)")
        listener = subprocess.Popen(
            [sys.executable, "-m", "focalcall", "join", "cli", "--server", url, "--name", "Bo",
             "--output", str(tmp_path / "mixed.wav"), "--output-dir", str(tmp_path / "each"),
             "--codec", "codec2-1200"], cwd=ROOT, stderr=subprocess.PIPE, text=True)
        assert "joined room 'cli'" in listener.stderr.readline()
        talker = focalcall("join", "cli", "--server", url, "--name", "Ada", "--input", str(speech_wav),
                           "--codec", "codec2-1200")
        assert talker.returncode == 0, talker.stderr
        assert "sent " in talker.stderr and "call summary" in talker.stderr
        listener.send_signal(signal.SIGINT)
        _, err = listener.communicate(timeout=30)
        assert listener.returncode == 0, err
        assert "received  Ada (id 2)" in err and "0 lost" in err, err
        each = list((tmp_path / "each").iterdir())
        assert [p.name for p in each] == ["002-Ada.wav"]
        heard = read_wav(each[0], 16000)
        sent = read_wav(speech_wav, 16000)
        assert abs(len(heard) - len(sent)) <= 640  # one 40 ms Codec2 1200 frame
        mixed = read_wav(tmp_path / "mixed.wav", 16000)
        # the mix is the listener's playout timeline: it runs on until Ctrl-C, and its start
        # lines up with the sender's first frames
        assert len(mixed) >= 0.95 * len(heard)
        assert abs(best_lag(heard[:32000], mixed[:32000], 1600)) <= 2 * 640
        with urllib.request.urlopen(url + "healthz", timeout=5) as r:
            assert b'"participants": 0' in r.read()
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    assert server.returncode == 0
