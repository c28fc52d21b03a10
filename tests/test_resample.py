"""codec.resample: streaming equals offline, delays, pass/stop band, lengths, errors."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from codec.resample import StreamResampler, resample, resample_delay, resampled_length

RATES = (8000, 16000, 24000, 48000)


def _tone(freq: float, rate: int, seconds: float = 0.5) -> np.ndarray:
    return np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate)


def _gain(freq: float, src: int, dst: int) -> float:
    x = _tone(freq, src)
    y = resample(x, src, dst)
    mid = slice(len(y) // 4, 3 * len(y) // 4)  # skip the edges
    return float(np.sqrt(2 * np.mean(y[mid].astype(np.float64) ** 2)))


@pytest.mark.parametrize("src,dst", [p for p in itertools.permutations(RATES, 2)])
def test_streaming_equals_offline(src: int, dst: int) -> None:
    rng = np.random.default_rng(src + dst)
    x = rng.standard_normal(src // 5)
    offline = resample(x, src, dst)
    stream = StreamResampler(src, dst)
    assert stream.delay == resample_delay(src, dst) > 0
    chunks, i = [], 0
    while i < len(x):  # ragged chunks, including single samples
        n = int(rng.integers(1, 400))
        chunks.append(stream.process(x[i:i + n]))
        i += n
    chunks.append(stream.process(np.zeros(stream.delay * src // dst + 8)))
    out = np.concatenate(chunks)
    np.testing.assert_allclose(out[stream.delay: stream.delay + len(offline)], offline, atol=1e-5)


@pytest.mark.parametrize("src,dst", [(16000, 8000), (8000, 16000), (48000, 16000), (16000, 24000)])
def test_frames_give_constant_output_length(src: int, dst: int) -> None:
    stream = StreamResampler(src, dst)
    frame = src // 50  # 20 ms
    sizes = {len(stream.process(np.ones(frame))) for _ in range(20)}
    assert sizes == {dst // 50}


def test_reset_forgets_the_past() -> None:
    x = np.random.default_rng(1).standard_normal(960)
    stream = StreamResampler(48000, 16000)
    first = stream.process(x)
    stream.process(np.ones(500))
    stream.reset()
    np.testing.assert_array_equal(stream.process(x), first)


@pytest.mark.parametrize("src,dst", [p for p in itertools.permutations(RATES, 2)])
def test_passband_is_flat_and_stopband_rejects(src: int, dst: int) -> None:
    low = min(src, dst) / 2
    assert _gain(0.8 * low, src, dst) == pytest.approx(1.0, abs=0.01)
    assert _gain(0.1 * low, src, dst) == pytest.approx(1.0, abs=0.01)
    if src > dst:  # content above the new Nyquist would alias: it must be gone (> 70 dB)
        assert _gain(1.1 * low, src, dst) < 10 ** (-70 / 20)


def test_offline_output_is_time_aligned() -> None:
    x = _tone(300, 16000) * np.hanning(8000)
    y = resample(x, 16000, 48000)
    expected = _tone(300, 48000) * np.hanning(24000 + 2)[1:-1]
    assert np.max(np.abs(y - expected)) < 0.01


@pytest.mark.parametrize("n,src,dst", [(1, 16000, 8000), (321, 16000, 8000), (7, 8000, 48000),
                                        (1000, 22050, 16000), (999, 44101, 16000)])
def test_offline_length(n: int, src: int, dst: int) -> None:
    y = resample(np.zeros(n), src, dst)
    assert len(y) == resampled_length(n, src, dst) == -(-n * dst // src)
    assert y.dtype == np.float32


def test_odd_rate_offline_works_but_does_not_stream() -> None:
    y = resample(_tone(440, 44101), 44101, 16000)
    assert _gain(440, 44101, 16000) == pytest.approx(1.0, abs=0.01)
    assert len(y) == resampled_length(len(_tone(440, 44101)), 44101, 16000)
    with pytest.raises(ValueError, match="too fine"):
        StreamResampler(44101, 16000)


def test_identity() -> None:
    x = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(resample(x, 16000, 16000), x)
    stream = StreamResampler(16000, 16000)
    assert stream.delay == 0
    np.testing.assert_array_equal(stream.process(x), x)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="positive"):
        resample(np.zeros(4), 0, 16000)
    with pytest.raises(ValueError, match="1-D"):
        resample(np.zeros((2, 4)), 16000, 8000)
    with pytest.raises(ValueError, match="1-D"):
        StreamResampler(16000, 8000).process(np.zeros((2, 4)))
