"""Augmentation recipes: level, band-limiting, EQ, room reverberation, background noise.

A recipe is a small JSON-able dict of parameters (stored in the manifest or drawn fresh by
:func:`sample_recipe`); :func:`apply_recipe` turns clean PCM into the degraded version with
random realizations (noise, room response) from the caller's generator, so the trainer can
pair a noisy input with its clean target on the fly. All noise is generated here.
"""
from __future__ import annotations

import numpy as np
from scipy import signal

RATE = 16000
NOISE_KINDS = ("white", "pink", "brown", "hum", "modulated")


def sample_recipe(rng: np.random.Generator, p_clean: float = 0.2) -> dict:
    """A random recipe; with probability ``p_clean`` only a level change."""
    recipe: dict = {"gain_db": round(float(rng.uniform(-12.0, 6.0)), 2),
                    "eq": [], "band": None, "reverb": None, "noise": None}
    if rng.random() < p_clean:
        return recipe
    for _ in range(int(rng.integers(0, 4))):
        recipe["eq"].append({"freq_hz": round(float(np.exp(rng.uniform(np.log(100), np.log(6000)))), 1),
                             "gain_db": round(float(rng.uniform(-9.0, 9.0)), 2),
                             "q": round(float(rng.uniform(0.5, 2.5)), 2)})
    if rng.random() < 0.35:
        recipe["band"] = {"low_hz": round(float(rng.uniform(50.0, 300.0)), 1),
                          "high_hz": round(float(rng.uniform(3400.0, 7800.0)), 1)}
    if rng.random() < 0.35:
        recipe["reverb"] = {"rt60_s": round(float(rng.uniform(0.15, 0.9)), 3),
                            "drr_db": round(float(rng.uniform(0.0, 15.0)), 2)}
    if rng.random() < 0.6:
        recipe["noise"] = {"kind": str(rng.choice(NOISE_KINDS)),
                           "snr_db": round(float(rng.uniform(0.0, 35.0)), 2)}
    return recipe


def validate_recipe(recipe: dict) -> None:
    """Raise ``ValueError`` naming the first malformed field of ``recipe``."""
    unknown = set(recipe) - {"gain_db", "eq", "band", "reverb", "noise"}
    if unknown:
        raise ValueError(f"unknown augmentation fields: {sorted(unknown)}")
    for band in recipe.get("eq") or []:
        if not 20.0 <= band["freq_hz"] < RATE / 2 or band["q"] <= 0:
            raise ValueError(f"bad EQ band {band}")
    band = recipe.get("band")
    if band and not 0 < band["low_hz"] < band["high_hz"] < RATE / 2:
        raise ValueError(f"bad band limits {band}")
    reverb = recipe.get("reverb")
    if reverb and not 0 < reverb["rt60_s"] <= 3.0:
        raise ValueError(f"bad reverberation time {reverb}")
    noise = recipe.get("noise")
    if noise and noise["kind"] not in NOISE_KINDS:
        raise ValueError(f"unknown noise kind {noise['kind']!r}; expected one of {NOISE_KINDS}")


def apply_recipe(pcm: np.ndarray, recipe: dict | None, rng: np.random.Generator) -> np.ndarray:
    """``pcm`` (16 kHz float32) degraded by ``recipe``; same length, clipped to [-1, 1]."""
    x = np.asarray(pcm, dtype=np.float64)
    if not recipe:
        return x.astype(np.float32)
    validate_recipe(recipe)
    if recipe.get("reverb"):
        x = reverberate(x, recipe["reverb"]["rt60_s"], recipe["reverb"]["drr_db"], rng)
    for band in recipe.get("eq") or []:
        x = peaking_eq(x, band["freq_hz"], band["gain_db"], band["q"])
    if recipe.get("band"):
        x = band_limit(x, recipe["band"]["low_hz"], recipe["band"]["high_hz"])
    if recipe.get("noise"):
        noise = make_noise(recipe["noise"]["kind"], len(x), rng)
        x = x + noise * _noise_scale(x, noise, recipe["noise"]["snr_db"])
    x = x * 10.0 ** (recipe.get("gain_db", 0.0) / 20.0)
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def peaking_eq(x: np.ndarray, freq_hz: float, gain_db: float, q: float) -> np.ndarray:
    """One peaking biquad (RBJ audio-EQ cookbook)."""
    a = 10.0 ** (gain_db / 40.0)
    w0 = 2 * np.pi * freq_hz / RATE
    alpha = np.sin(w0) / (2 * q)
    b = [1 + alpha * a, -2 * np.cos(w0), 1 - alpha * a]
    den = [1 + alpha / a, -2 * np.cos(w0), 1 - alpha / a]
    return signal.lfilter(b, den, x)


def band_limit(x: np.ndarray, low_hz: float, high_hz: float) -> np.ndarray:
    """4th-order Butterworth band-pass, like a telephone or cheap microphone channel."""
    sos = signal.butter(4, [low_hz, high_hz], btype="bandpass", fs=RATE, output="sos")
    return signal.sosfilt(sos, x)


def room_response(rt60_s: float, drr_db: float, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room impulse response: direct path plus an exponentially decaying noise tail
    whose energy sits ``drr_db`` below the direct sound, reaching -60 dB after ``rt60_s``."""
    n = int(RATE * min(rt60_s * 1.2, 2.0)) + 1
    t = np.arange(n) / RATE
    tail = rng.standard_normal(n) * np.exp(-6.908 * t / rt60_s)  # 6.908 = ln(1000): -60 dB
    tail[: int(0.0025 * RATE)] = 0.0  # first reflections arrive a few ms after the direct path
    tail *= np.sqrt(10.0 ** (-drr_db / 10.0) / max(np.sum(tail ** 2), 1e-12))
    tail[0] = 1.0
    return tail


def reverberate(x: np.ndarray, rt60_s: float, drr_db: float, rng: np.random.Generator) -> np.ndarray:
    """``x`` convolved with :func:`room_response`, same length, the direct path time-aligned."""
    return signal.fftconvolve(x, room_response(rt60_s, drr_db, rng))[: len(x)]


def make_noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of unit-power background noise of ``kind`` (see :data:`NOISE_KINDS`)."""
    if kind == "white":
        noise = rng.standard_normal(n)
    elif kind in ("pink", "brown", "modulated"):
        spectrum = np.fft.rfft(rng.standard_normal(n))
        f = np.maximum(np.fft.rfftfreq(n, 1.0 / RATE), 20.0)
        noise = np.fft.irfft(spectrum / (f if kind == "brown" else np.sqrt(f)), n)
        if kind == "modulated":  # a crowd-like envelope fluctuating at syllable rate
            t = np.arange(n) / RATE
            envelope = 1.0 + 0.8 * np.sin(2 * np.pi * rng.uniform(2.0, 6.0) * t + rng.uniform(0, 6.3))
            noise = noise * envelope
    elif kind == "hum":
        t = np.arange(n) / RATE
        mains = rng.choice([50.0, 60.0])
        noise = sum(np.sin(2 * np.pi * mains * k * t + rng.uniform(0, 6.3)) / k for k in range(1, 8))
        noise = noise + 0.05 * rng.standard_normal(n)
    else:
        raise ValueError(f"unknown noise kind {kind!r}; expected one of {NOISE_KINDS}")
    return noise / max(float(np.sqrt(np.mean(noise ** 2))), 1e-12)


def _noise_scale(x: np.ndarray, noise: np.ndarray, snr_db: float) -> float:
    power = float(np.mean(x ** 2))
    return float(np.sqrt(power / 10.0 ** (snr_db / 10.0) / max(float(np.mean(noise ** 2)), 1e-12)))
