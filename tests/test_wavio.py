"""codec.wavio: any WAV in, 16-bit mono out, one-line errors for bad files."""
from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from codec.wavio import AudioFileError, read_wav, write_wav


def _sine(rate: int, seconds: float = 0.5, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    return amp * np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate)


@pytest.mark.parametrize("subtype,tol", [("PCM_U8", 0.02), ("PCM_16", 1e-3), ("PCM_24", 1e-3),
                                         ("PCM_32", 1e-3), ("FLOAT", 1e-3), ("DOUBLE", 1e-3)])
def test_reads_sample_formats(tmp_path: Path, subtype: str, tol: float) -> None:
    path = tmp_path / "x.wav"
    sf.write(path, _sine(16000), 16000, subtype=subtype)
    pcm = read_wav(path, 16000)
    assert pcm.dtype == np.float32 and pcm.shape == (8000,)
    np.testing.assert_allclose(pcm, _sine(16000), atol=tol)


def test_downmixes_channels_and_resamples(tmp_path: Path) -> None:
    path = tmp_path / "stereo48k.wav"
    left = _sine(48000)
    sf.write(path, np.stack([left, np.zeros_like(left), left], axis=1), 48000, subtype="PCM_24")
    pcm = read_wav(path, 16000)
    assert pcm.shape == (8000,)
    np.testing.assert_allclose(pcm[100:-100], (2 / 3 * _sine(16000))[100:-100], atol=2e-3)


def test_write_clips_to_16_bit_mono(tmp_path: Path) -> None:
    path = tmp_path / "out.wav"
    write_wav(path, np.array([2.0, -2.0, 0.5, 0.0]), 8000)
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        data = np.frombuffer(w.readframes(4), dtype="<i2")
    np.testing.assert_array_equal(data, [32767, -32767, 16384, 0])


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "rt.wav"
    write_wav(path, _sine(16000), 16000)
    np.testing.assert_allclose(read_wav(path, 16000), _sine(16000), atol=1 / 32767)


def test_write_rejects_bad_pcm(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mono"):
        write_wav(tmp_path / "a.wav", np.zeros((10, 2)), 16000)
    with pytest.raises(ValueError, match="non-finite"):
        write_wav(tmp_path / "a.wav", np.array([0.0, np.nan]), 16000)
    with pytest.raises(AudioFileError, match=r"cannot write WAV \(No such file or directory\)"):
        write_wav(tmp_path / "no" / "such" / "dir.wav", np.zeros(10), 16000)
    with pytest.raises(AudioFileError, match=r"cannot write WAV \(Is a directory\)"):
        write_wav(tmp_path, np.zeros(10), 16000)


def _good_wav(tmp_path: Path) -> bytes:
    sf.write(tmp_path / "good.wav", _sine(16000), 16000, subtype="PCM_16")
    return (tmp_path / "good.wav").read_bytes()


@pytest.mark.parametrize("name,make,message", [
    ("missing.wav", None, "no such file"),
    ("empty.wav", lambda good: b"", "file is empty"),
    ("text.wav", lambda good: b"this is not audio at all\n" * 20, "not a WAV file"),
    ("truncated.wav", lambda good: good[:30], "unreadable or unsupported WAV"),
    ("header-only.wav", lambda good: good[:44], "no audio samples"),
])
def test_bad_files(tmp_path: Path, name: str, make, message: str) -> None:
    path = tmp_path / name
    if make is not None:
        path.write_bytes(make(_good_wav(tmp_path)))
    with pytest.raises(AudioFileError, match=message) as info:
        read_wav(path, 16000)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_other_audio_formats_are_not_wav(tmp_path: Path) -> None:
    path = tmp_path / "speech.wav"  # a FLAC file with a misleading name
    sf.write(path, _sine(16000), 16000, format="FLAC")
    with pytest.raises(AudioFileError, match="not a WAV file"):
        read_wav(path, 16000)


def test_directory_and_nonfinite(tmp_path: Path) -> None:
    with pytest.raises(AudioFileError, match="not a regular file"):
        read_wav(tmp_path, 16000)
    path = tmp_path / "nan.wav"
    sf.write(path, np.array([0.1, np.nan, 0.2]), 16000, subtype="FLOAT")
    with pytest.raises(AudioFileError, match="non-finite"):
        read_wav(path, 16000)


def test_audio_file_error_is_a_value_error() -> None:
    assert issubclass(AudioFileError, ValueError)  # focalcall's CLI prints these as one line
