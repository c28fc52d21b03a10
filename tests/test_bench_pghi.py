"""bench/pghi.py: a phase rebuilt from the STFT magnitude alone gives the magnitude back."""
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import istft, stft

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from pghi import pghi_phase, rebuild  # noqa: E402

RATE, WINDOW, HOP = 16000, 640, 160


def vibrato_voice() -> np.ndarray:
    """One second of 14 harmonics on a pitch swinging 110-170 Hz."""
    t = np.arange(RATE) / RATE
    pitch = 140 + 30 * np.sin(2 * np.pi * 1.5 * t)
    cycles = np.cumsum(pitch) / RATE
    return sum(np.sin(2 * np.pi * h * cycles) / h for h in range(1, 15)) * np.hanning(RATE)


def spectral_convergence_db(phase: np.ndarray, x: np.ndarray) -> float:
    """How far the resynthesis' magnitude is from ``x``'s (dB; lower is closer)."""
    spec = stft(x, RATE, nperseg=WINDOW, noverlap=WINDOW - HOP)[2]
    y = istft(np.abs(spec) * np.exp(1j * phase), RATE, nperseg=WINDOW, noverlap=WINDOW - HOP)[1]
    rebuilt = np.abs(stft(y[:len(x)], RATE, nperseg=WINDOW, noverlap=WINDOW - HOP)[2])
    return 20 * np.log10(np.linalg.norm(np.abs(spec) - rebuilt) / np.linalg.norm(np.abs(spec)))


@pytest.mark.parametrize("causal", [False, True])
def test_rebuilt_phase_gives_the_magnitude_back(causal: bool):
    x = vibrato_voice()
    magnitude = np.abs(stft(x, RATE, nperseg=WINDOW, noverlap=WINDOW - HOP)[2])
    phase = pghi_phase(magnitude, HOP, causal=causal)
    assert phase.shape == magnitude.shape
    assert spectral_convergence_db(phase, x) < -20
    # Without the integration the magnitude does not survive: zero or random phase.
    assert spectral_convergence_db(np.zeros_like(phase), x) > -5
    random = np.random.default_rng(0).uniform(-np.pi, np.pi, phase.shape)
    assert spectral_convergence_db(random, x) > -10


@pytest.mark.parametrize("causal", [False, True])
def test_rebuild_keeps_the_signal_magnitude_and_length(causal: bool):
    x = vibrato_voice()
    y = rebuild(x, causal=causal)
    assert y.shape == x.shape and y.dtype == np.float32
    spec = np.abs(stft(x, RATE, nperseg=WINDOW, noverlap=WINDOW - HOP)[2])
    again = np.abs(stft(y, RATE, nperseg=WINDOW, noverlap=WINDOW - HOP)[2])
    assert 20 * np.log10(np.linalg.norm(spec - again) / np.linalg.norm(spec)) < -20
    assert np.abs(np.corrcoef(x, y)[0, 1]) < 0.9  # the phase is its own, not the input's
