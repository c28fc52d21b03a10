"""codec.roundtrip and ``focalcall codec``: quality, lengths, losses, CLI behaviour."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pystoi import stoi

from codec.registry import get_codec
from codec.roundtrip import run_roundtrip
from codec.wavio import read_wav
from focalcall.cli import main

REPO = Path(__file__).resolve().parents[1]
# STOI against the original espeak clip, a margin below what was measured:
# 3200 .871, 2400 .851, 1600 .839, 1200 .821, 700c .718, 450 .671,
# opus 6k .873, 8k .947, 10k .957, 12k .974, 16k .987, 16k-fec .960.
MIN_STOI = {"codec2-3200": 0.82, "codec2-2400": 0.80, "codec2-1600": 0.79, "codec2-1200": 0.77,
            "codec2-700c": 0.66, "codec2-450": 0.61, "opus-6k": 0.83, "opus-8k": 0.91,
            "opus-10k": 0.92, "opus-12k": 0.94, "opus-16k": 0.95, "opus-16k-fec": 0.92}


@pytest.fixture(scope="module")
def speech(speech_wav) -> np.ndarray:
    return read_wav(speech_wav, 16000)


@pytest.mark.parametrize("name", list(MIN_STOI))
def test_quality_length_and_bitrate(speech: np.ndarray, name: str) -> None:
    codec = get_codec(name)
    result = run_roundtrip(codec, speech, 16000)
    assert result.pcm.dtype == np.float32 and len(result.pcm) == len(speech)
    assert stoi(speech, result.pcm, 16000) > MIN_STOI[name]
    assert len(result.payloads) == -(-(len(speech) * codec.sample_rate // 16000
                                       + codec.delay_samples) // codec.frame_samples)
    if name.startswith("codec2"):
        assert result.payload_bitrate == codec.bitrate
    else:
        assert 0.8 * codec.bitrate < result.payload_bitrate < 1.05 * codec.bitrate


def test_other_input_rate(speech_wav: Path) -> None:
    pcm, rate = read_wav(speech_wav, 22050), 22050
    out = run_roundtrip(get_codec("codec2-1200"), pcm, rate).pcm
    assert len(out) == -(-len(pcm) * 16000 // rate)


@pytest.mark.parametrize("name", ["codec2-700c", "opus-6k", "opus-16k-fec"])
def test_losses_are_concealed(speech: np.ndarray, name: str) -> None:
    codec = get_codec(name)
    clean = run_roundtrip(codec, speech, 16000).pcm
    lossy = run_roundtrip(codec, speech, 16000, lost=set(range(0, 1000, 4))).pcm
    assert len(lossy) == len(speech) and np.all(np.isfinite(lossy))
    assert 0.4 < stoi(speech, lossy, 16000) < stoi(speech, clean, 16000)


def test_rejects_empty_and_stereo() -> None:
    with pytest.raises(ValueError, match="at least one sample"):
        run_roundtrip(get_codec("opus-8k"), np.zeros(0), 16000)
    with pytest.raises(ValueError, match="1-D"):
        run_roundtrip(get_codec("opus-8k"), np.zeros((10, 2)), 16000)


def _focalcall(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "focalcall", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_cli_roundtrip(speech_wav: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.wav"
    proc = _focalcall("codec", "roundtrip", "--codec", "codec2-700c", str(speech_wav), str(out))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("codec2-700c:")
    assert "800 bit/s" in lines[0] and "latency" in lines[0]
    decoded, original = read_wav(out, 16000), read_wav(speech_wav, 16000)
    assert len(decoded) == len(original) and stoi(original, decoded, 16000) > 0.6


def test_cli_list(capsys: pytest.CaptureFixture) -> None:
    assert main(["codec", "list"]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[1:]}
    assert set(MIN_STOI) <= set(rows)
    assert rows["opus-8k"][1:] == ["16000", "20", "8000", "26.5"]
    assert rows["codec2-700c"][1:] == ["8000", "40", "800", "69.9"]


@pytest.mark.parametrize("content,message", [
    (None, "no such file"),
    (b"garbage, not audio\n" * 10, "not a WAV file"),
])
def test_cli_bad_input_is_one_line(tmp_path: Path, content: bytes | None, message: str) -> None:
    wav = tmp_path / "in.wav"
    if content is not None:
        wav.write_bytes(content)
    proc = _focalcall("codec", "roundtrip", "--codec", "opus-8k", str(wav), str(tmp_path / "o.wav"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and str(wav) in lines[0]
    assert not (tmp_path / "o.wav").exists()


@pytest.mark.parametrize("codec,make,message", [
    ("opus-8k", lambda p: p.write_bytes(b""), "file is empty"),
    ("mp3", lambda p: p.write_bytes(b"RIFF"), "unknown codec 'mp3'; valid names: codec2-3200"),
])
def test_cli_errors_in_process(tmp_path: Path, capsys: pytest.CaptureFixture, codec: str, make,
                               message: str) -> None:
    wav = tmp_path / "in.wav"
    make(wav)
    assert main(["codec", "roundtrip", "--codec", codec, str(wav), str(tmp_path / "o.wav")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
