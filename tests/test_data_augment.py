"""Augmentation recipes: sampling, validation and what each effect does to a signal."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import signal

from codec.data import augment

RATE = 16000


def tone(freq: float = 440.0, seconds: float = 1.0, amp: float = 0.1) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def band_power(x: np.ndarray, low: float, high: float) -> float:
    f, p = signal.welch(x, RATE, nperseg=1024)
    return float(p[(f >= low) & (f < high)].sum())


def test_sampled_recipes_are_deterministic_json_and_valid():
    a = [augment.sample_recipe(np.random.default_rng(7)) for _ in range(2)]
    assert a[0] == a[1]
    rng = np.random.default_rng(1)
    recipes = [augment.sample_recipe(rng) for _ in range(200)]
    for recipe in recipes:
        augment.validate_recipe(recipe)
        assert json.loads(json.dumps(recipe)) == recipe
    assert any(r["noise"] for r in recipes) and any(r["reverb"] for r in recipes)
    assert any(r["band"] for r in recipes) and any(r["eq"] for r in recipes)
    assert any(not (r["noise"] or r["reverb"] or r["band"] or r["eq"]) for r in recipes)


def test_none_recipe_is_identity_and_output_keeps_length_and_range():
    x = tone()
    np.testing.assert_array_equal(augment.apply_recipe(x, None, np.random.default_rng(0)), x)
    rng = np.random.default_rng(3)
    for _ in range(30):
        y = augment.apply_recipe(x, augment.sample_recipe(rng), rng)
        assert y.shape == x.shape and y.dtype == np.float32
        assert np.all(np.isfinite(y)) and np.max(np.abs(y)) <= 1.0


@pytest.mark.parametrize("kind", augment.NOISE_KINDS)
def test_noise_lands_at_the_requested_snr(kind):
    x = tone(seconds=2.0)
    recipe = {"gain_db": 0.0, "noise": {"kind": kind, "snr_db": 10.0}}
    y = augment.apply_recipe(x, recipe, np.random.default_rng(0))
    noise = y - x
    snr = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean(noise.astype(np.float64) ** 2))
    assert snr == pytest.approx(10.0, abs=0.3)


def test_gain_scales_the_level():
    x = tone()
    y = augment.apply_recipe(x, {"gain_db": -6.0}, np.random.default_rng(0))
    assert np.max(np.abs(y)) / np.max(np.abs(x)) == pytest.approx(10 ** (-6 / 20), rel=1e-3)


def test_band_limit_removes_what_lies_outside_the_band():
    x = np.random.default_rng(0).standard_normal(RATE).astype(np.float32) * 0.1
    y = augment.apply_recipe(x, {"band": {"low_hz": 300.0, "high_hz": 3400.0}}, np.random.default_rng(0))
    assert band_power(y, 5000, 8000) < 1e-3 * band_power(x, 5000, 8000)
    assert band_power(y, 800, 2500) > 0.7 * band_power(x, 800, 2500)


def test_peaking_eq_boosts_its_band():
    x = np.random.default_rng(0).standard_normal(RATE).astype(np.float32) * 0.05
    y = augment.apply_recipe(x, {"eq": [{"freq_hz": 1000.0, "gain_db": 9.0, "q": 1.0}]},
                             np.random.default_rng(0))
    gain_db = 10 * np.log10(band_power(y, 950, 1050) / band_power(x, 950, 1050))
    assert gain_db == pytest.approx(9.0, abs=1.0)
    assert abs(10 * np.log10(band_power(y, 5000, 7000) / band_power(x, 5000, 7000))) < 0.5


def test_room_response_decays_by_60_db_over_rt60_and_keeps_direct_path():
    rir = augment.room_response(0.5, 6.0, np.random.default_rng(0))
    assert rir[0] == 1.0
    tail = rir[1:] ** 2
    assert 10 * np.log10(tail.sum()) == pytest.approx(-6.0, abs=0.01)
    early = tail[int(0.01 * RATE): int(0.06 * RATE)].mean()
    late = tail[int(0.26 * RATE): int(0.31 * RATE)].mean()
    assert 10 * np.log10(early / late) == pytest.approx(30.0, abs=4.0)  # 0.25 s = half of RT60


def test_malformed_recipes_are_rejected_with_the_field_named():
    x = tone()
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown noise kind"):
        augment.apply_recipe(x, {"noise": {"kind": "jet", "snr_db": 5}}, rng)
    with pytest.raises(ValueError, match="band limits"):
        augment.apply_recipe(x, {"band": {"low_hz": 4000.0, "high_hz": 300.0}}, rng)
    with pytest.raises(ValueError, match="unknown augmentation fields"):
        augment.apply_recipe(x, {"pitch": 2}, rng)
