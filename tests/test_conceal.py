"""codec.conceal: replay the last payload, fade linearly to silence, recover at once."""
from __future__ import annotations

import numpy as np
import pytest

from codec.conceal import RepeatFadeConcealer

FRAME = 160  # 20 ms at 8 kHz


class _ConstantDecoder:
    """Decodes a payload to a frame of ones times its first byte; counts calls."""

    def __init__(self) -> None:
        self.calls: list[bytes] = []

    def __call__(self, payload: bytes) -> np.ndarray:
        self.calls.append(payload)
        return np.full(FRAME, float(payload[0]), dtype=np.float32)


def test_fades_over_120_ms_then_silence() -> None:
    dec = _ConstantDecoder()
    c = RepeatFadeConcealer(dec, FRAME, 8000)
    c.decode(b"\x01")
    lost = np.concatenate([c.decode(None) for _ in range(8)])  # 160 ms
    fade = c.fade_samples
    assert fade == 960
    np.testing.assert_allclose(lost[:fade], 1.0 - np.arange(fade) / fade, atol=1e-6)
    assert np.all(lost[fade:] == 0)
    assert np.all(np.diff(lost) <= 0)  # monotonic: no jumps between frames
    # the decoder replays the last payload only while something is audible
    assert dec.calls == [b"\x01"] * (1 + fade // FRAME)
    assert c.concealing


def test_recovers_and_restarts_fade_after_new_frames() -> None:
    c = RepeatFadeConcealer(_ConstantDecoder(), FRAME, 8000, fade_ms=40)
    c.decode(b"\x01")
    c.decode(None)
    np.testing.assert_array_equal(c.decode(b"\x02"), np.full(FRAME, 2.0))
    assert not c.concealing
    again = c.decode(None)
    assert again[0] == pytest.approx(2.0) and again[-1] == pytest.approx(2.0 * (1 - 159 / 320))


def test_loss_before_any_frame_is_silence() -> None:
    dec = _ConstantDecoder()
    out = RepeatFadeConcealer(dec, FRAME, 8000).decode(None)
    assert out.shape == (FRAME,) and not out.any() and dec.calls == []


def test_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        RepeatFadeConcealer(_ConstantDecoder(), 0, 8000)
    with pytest.raises(ValueError):
        RepeatFadeConcealer(_ConstantDecoder(), FRAME, 8000, fade_ms=0)
