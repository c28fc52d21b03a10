"""Source-filter training targets: WORLD analysis at our frame centres, cached per clip."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

pytest.importorskip("pyworld", reason="needs the data extra (pip install -e '.[data]')")

from codec.neural.config import HOP, SAMPLE_RATE  # noqa: E402
from codec.neural.envelope import ORDER  # noqa: E402
from codec.neural.synth import FrameParameters, SourceFilterSynth  # noqa: E402
from codec.neural.targets import (analyze, cache_path, fill_cache, fill_unvoiced,  # noqa: E402
                                  load_targets)


def vowel(f0: float, seconds: float, seed: int = 0) -> np.ndarray:
    """A buzzy vowel: a harmonic series through two formant resonances, with slight vibrato."""
    n = np.arange(int(seconds * SAMPLE_RATE))
    freq = f0 * (1 + 0.01 * np.sin(2 * np.pi * 4 * n / SAMPLE_RATE))
    phase = 2 * np.pi * np.cumsum(freq) / SAMPLE_RATE
    x = np.zeros(len(n))
    for k in range(1, int(7000 // f0)):
        h = k * f0
        gain = 1 / (1 + ((h - 700) / 150) ** 2) + 0.5 / (1 + ((h - 1200) / 200) ** 2) + 0.02
        x += gain * np.cos(k * phase)
    x += 0.01 * np.random.default_rng(seed).standard_normal(len(n))
    return (0.1 * x / np.abs(x).max()).astype(np.float32)


def test_a_voiced_clip_gets_its_f0_voicing_and_low_aperiodicity():
    targets = analyze(vowel(150.0, 1.0))
    frames = SAMPLE_RATE // HOP
    assert {k: v.shape for k, v in targets.items()} == {
        "f0": (frames,), "voiced": (frames,), "mcep": (frames, ORDER + 1), "ap": (frames, 6)}
    middle = slice(5, frames - 5)
    assert np.all(targets["voiced"][middle] == 1)
    assert np.allclose(targets["f0"][middle], 150.0, rtol=0.03)
    assert targets["ap"][middle, :2].mean() < 0.2


def test_noise_is_unvoiced_and_aperiodic():
    noise = 0.05 * np.random.default_rng(1).standard_normal(SAMPLE_RATE).astype(np.float32)
    targets = analyze(noise)
    assert targets["voiced"].mean() < 0.1
    assert targets["ap"].mean() > 0.8


def test_gain_moves_only_the_level_coefficient():
    x = vowel(200.0, 0.6)
    a, b = analyze(x), analyze(2 * x)
    assert np.allclose(b["mcep"][:, 0] - a["mcep"][:, 0], math.log(2), atol=1e-3)
    assert np.allclose(b["mcep"][:, 1:], a["mcep"][:, 1:], atol=1e-3)


def test_unvoiced_gaps_are_bridged_in_log_frequency():
    f0 = np.array([0, 100, 0, 0, 400, 0], dtype=np.float64)
    assert np.allclose(fill_unvoiced(f0), [100, 100, 100 * 4 ** (1 / 3), 100 * 4 ** (2 / 3), 400, 400])
    assert np.all(fill_unvoiced(np.zeros(4)) > 0)


@torch.no_grad()
def test_copy_synthesis_of_the_targets_sounds_like_the_input():
    from pystoi import stoi

    x = vowel(120.0, 1.5)
    x = x * (0.5 + 0.5 * np.sin(2 * np.pi * 1.5 * np.arange(len(x)) / SAMPLE_RATE)) ** 2  # syllables
    t = analyze(x)
    p = FrameParameters(*(torch.from_numpy(t[k])[None] for k in ("f0", "voiced", "mcep", "ap")))
    y = SourceFilterSynth()(p)[0].numpy()[HOP:]   # chunk j ends at frame j's centre: 1 frame late
    ref = x[: len(y)]
    level = 20 * np.log10(np.sqrt(np.mean(y ** 2)) / np.sqrt(np.mean(ref ** 2)))
    assert abs(level) < 1.5
    assert stoi(ref, y, SAMPLE_RATE) > 0.85


def test_the_cache_fills_from_manifests_and_loads_back(tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    rows = []
    for i, split in enumerate(["train", "valid"]):
        sf.write(corpus / f"c{i}.wav", vowel(110.0 + 50 * i, 0.5), SAMPLE_RATE, subtype="PCM_16")
        rows.append({"path": f"c{i}.wav", "speaker": "s", "source": "test", "language": "en",
                     "duration": 0.5, "text": None, "split": split, "augment": None})
    (corpus / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cache = tmp_path / "cache"
    assert fill_cache([str(corpus / "manifest.jsonl")], cache) == 2
    assert fill_cache([str(corpus / "manifest.jsonl")], cache) == 0
    targets = load_targets(cache, corpus / "c1.wav")
    assert targets["f0"].shape == (25,) and np.median(targets["f0"]) == pytest.approx(160.0, rel=0.05)
    assert cache_path(cache, corpus / "c0.wav").exists()
    with pytest.raises(FileNotFoundError, match="python -m codec.neural.targets"):
        load_targets(cache, corpus / "other.wav")
