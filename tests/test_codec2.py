"""codec.codec2: frame sizes, delays, concealment and payload checks for every mode."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from codec.base import CodecError
from codec.codec2 import MODES, Codec2Codec

# mode: (frame samples at 8 kHz, payload bytes, payload bit/s)
EXPECTED = {"3200": (160, 8, 3200), "2400": (160, 6, 2400), "1600": (320, 8, 1600),
            "1200": (320, 6, 1200), "700c": (320, 4, 800), "450": (320, 3, 600)}
RATE = 8000


def burst_stimulus(bursts: int, seed: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Voiced-speech-like bursts (a pulse train through two formants) with random lengths and
    gaps, so their edges fall at every position within a codec frame."""
    rng = np.random.default_rng(seed)
    lens = rng.integers(int(0.15 * RATE), int(0.35 * RATE), size=(bursts, 2))
    n = int(lens.sum()) + RATE // 4
    gate, spans, pos = np.zeros(n), [], RATE // 8
    for on, off in lens:
        gate[pos:pos + on] = 1.0
        spans.append((pos, pos + on))
        pos += on + off
    pulses = np.zeros(n)
    pulses[np.arange(0, n, RATE / (100 + 60 * rng.random())).astype(int)] = 1.0
    voiced = sum(w * signal.lfilter(*signal.iirpeak(f, 5, fs=RATE), pulses)
                 for f, w in ((600, 1.0), (1500, 0.5)))
    x = voiced * gate
    return (0.5 * x / np.abs(x).max()).astype(np.float32), spans


def edge_lags(x: np.ndarray, y: np.ndarray, spans: list[tuple[int, int]]) -> np.ndarray:
    """How far ``y``'s level crosses half its burst level after ``x``'s does, at every edge.

    Codec2 synthesises its own phases, so waveforms never line up sample by sample; the
    timing of the speech level is what a delay can align.
    """
    win = RATE // 50  # 20 ms, at least two pitch periods: a steady level inside a burst

    def level(s: np.ndarray) -> np.ndarray:
        return np.sqrt(np.maximum(signal.filtfilt(np.ones(win) / win, [1], s.astype(float) ** 2), 0))

    px, py = level(x), level(y[:len(x)])
    lags = []
    for s, t in spans:
        third = (t - s) // 3
        times = []
        for p in (px, py):
            half = np.median(p[s + third:t - third]) / 2
            start = s - RATE // 50
            on = start + np.flatnonzero(p[start:] > half)[0]
            off = s + 2 * third + np.flatnonzero(p[s + 2 * third:] < half)[0]
            times.append((on, off))
        lags += [times[1][0] - times[0][0], times[1][1] - times[0][1]]
    return np.array(lags)


def _run(codec: Codec2Codec, x: np.ndarray, lost: set[int] = frozenset()) -> np.ndarray:
    enc, dec = codec.encoder(), codec.decoder()
    n = codec.frame_samples
    x = np.concatenate([x, np.zeros(-len(x) % n + 2 * n, dtype=np.float32)])
    return np.concatenate([dec.decode(None if i in lost else enc.encode(x[i * n:(i + 1) * n]))
                           for i in range(len(x) // n)])


@pytest.mark.parametrize("mode", list(MODES))
def test_frame_and_payload_sizes(mode: str) -> None:
    codec = Codec2Codec(mode)
    samples, nbytes, bitrate = EXPECTED[mode]
    assert (codec.name, codec.sample_rate) == (f"codec2-{mode}", 8000)
    assert (codec.frame_samples, codec.payload_bytes, codec.bitrate) == (samples, nbytes, bitrate)
    x = np.zeros(samples, dtype=np.float32)
    payload = codec.encoder().encode(x)
    assert isinstance(payload, bytes) and len(payload) == nbytes
    out = codec.decoder().decode(payload)
    assert out.dtype == np.float32 and out.shape == (samples,)


@pytest.mark.parametrize("mode", list(MODES))
def test_delay_matches_measured_level_timing(mode: str) -> None:
    codec = Codec2Codec(mode)
    lags = []
    for seed in (0, 1):
        x, spans = burst_stimulus(30, seed)
        lags.append(edge_lags(x, _run(codec, x), spans))
    # 120 edges; the mean scatters by a few samples with the edges' frame phases.
    assert abs(np.concatenate(lags).mean() - codec.delay_samples) <= 12


@pytest.mark.parametrize("mode", ["3200", "700c"])
def test_lost_frames_fade_and_recover(mode: str) -> None:
    codec = Codec2Codec(mode)
    x, _ = burst_stimulus(3, 7)
    x = np.tile(x[RATE // 8: RATE // 8 + int(0.15 * RATE)], 8)  # continuous voiced sound
    n = codec.frame_samples
    frames = len(x) // n
    gap = range(frames // 3, frames // 3 + int(240 / codec.frame_ms))  # 240 ms lost
    y = _run(codec, x, set(gap))
    assert np.all(np.isfinite(y))
    rms = [float(np.sqrt(np.mean(y[i * n:(i + 1) * n] ** 2))) for i in range(len(y) // n)]
    before = np.median(rms[gap.start - 4:gap.start])
    assert rms[gap.start] > 0.3 * before  # the first lost frame is concealed, not muted
    fade_frames = -(-120 // int(codec.frame_ms))
    assert all(r == 0 for r in rms[gap.start + fade_frames:gap.stop])  # silent after 120 ms
    assert np.median(rms[gap.stop + 2:gap.stop + 6]) > 0.5 * before  # and back afterwards


@pytest.mark.parametrize("mode", ["2400", "450"])
def test_bad_payload_and_frame_raise(mode: str) -> None:
    codec = Codec2Codec(mode)
    dec, enc = codec.decoder(), codec.encoder()
    for bad in (b"", b"\x00" * (codec.payload_bytes + 1), b"\x00" * (codec.payload_bytes - 1)):
        with pytest.raises(CodecError, match=f"{codec.payload_bytes} bytes"):
            dec.decode(bad)
    with pytest.raises(CodecError, match="must be bytes"):
        dec.decode("abc")  # type: ignore[arg-type]
    with pytest.raises(CodecError, match="frames of shape"):
        enc.encode(np.zeros(codec.frame_samples + 1, dtype=np.float32))
    with pytest.raises(CodecError, match="frames of shape"):
        enc.encode(np.zeros((1, codec.frame_samples), dtype=np.float32))


def test_loud_input_is_clipped_not_wrapped() -> None:
    codec = Codec2Codec("3200")
    t = np.arange(RATE) / RATE
    loud = (4.0 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    y = _run(codec, loud)
    assert np.all(np.isfinite(y)) and np.max(np.abs(y)) <= 1.0


def test_unknown_mode() -> None:
    with pytest.raises(CodecError, match="unknown Codec2 mode"):
        Codec2Codec("999")
