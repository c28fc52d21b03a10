"""The corpus builder end to end: a ~30 s corpus from Piper and one Asterisk voice.

Fetches two small Debian packages into .cache/debs on first run (apt-get download).
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("piper", reason="needs the data extra (pip install -e '.[data]')")
pytest.importorskip("imageio_ffmpeg", reason="needs the data extra (pip install -e '.[data]')")

from codec.data import audio, devset  # noqa: E402
from codec.data.builder import BuildConfig, build  # noqa: E402
from codec.data.debs import RESERVED_PACKAGES, RESERVED_PYPI  # noqa: E402
from codec.data.manifest import MANIFEST, read_manifest  # noqa: E402

SECONDS = 30.0
FIELDS = {"path", "speaker", "source", "language", "duration", "text", "split", "augment"}


def config(out, seconds: float, workers: int = 2, seed: int = 5) -> BuildConfig:
    return BuildConfig(out=out, hours=seconds / 3600, seed=seed, sources=("piper", "asterisk"),
                       asterisk_voices=("it_IT_m_Carlo",), workers=workers, progress=False)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    return out, build(config(out, SECONDS))


def test_corpus_reaches_the_target_length(corpus):
    out, entries = corpus
    total = sum(e.duration for e in entries)
    assert SECONDS <= total < SECONDS + 20.0
    assert read_manifest(out) == entries


def test_audio_is_16k_mono_16bit_with_sane_levels(corpus):
    out, entries = corpus
    for e in entries:
        info = sf.info(str(out / e.path))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert info.frames / 16000 == pytest.approx(e.duration, abs=1e-3)
        pcm, _ = sf.read(str(out / e.path), dtype="float32")
        level = 20 * np.log10(audio.active_rms(pcm))
        assert level == pytest.approx(audio.TARGET_DBFS, abs=1.5), e.path
        assert np.max(np.abs(pcm)) <= audio.PEAK + 1e-3
        assert e.duration >= 0.8


def test_manifest_is_complete(corpus):
    out, entries = corpus
    for line in (out / MANIFEST).read_text().splitlines():
        assert set(json.loads(line)) == FIELDS
    assert {e.source for e in entries} == {"piper", "asterisk"}
    for e in entries:
        assert e.language == ("en" if e.source == "piper" else "it")
        if e.source == "piper":
            assert e.text and e.speaker == "piper-joe"
        assert e.augment is not None and "gain_db" in e.augment


def test_train_and_valid_speakers_are_disjoint(corpus):
    _, entries = corpus
    train = {e.speaker for e in entries if e.split == "train"}
    valid = {e.speaker for e in entries if e.split == "valid"}
    assert train and valid and not train & valid
    for e in entries:
        assert e.path.startswith(e.split + "/")


def test_reserved_and_held_out_audio_is_absent(corpus):
    out, entries = corpus
    text = (out / MANIFEST).read_text().lower()
    for name in RESERVED_PACKAGES | RESERVED_PYPI:
        assert name not in text
    assert not any(devset.is_held_out(e.speaker) for e in entries)


def test_resume_extends_the_same_stream(corpus, tmp_path):
    out, entries = corpus
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / MANIFEST).write_text((out / MANIFEST).read_text())
    for e in entries:
        (copy / e.path).parent.mkdir(parents=True, exist_ok=True)
        (copy / e.path).write_bytes((out / e.path).read_bytes())
    longer = build(config(copy, SECONDS + 12.0, workers=1))
    assert longer[: len(entries)] == entries
    assert sum(e.duration for e in longer) >= SECONDS + 12.0
    assert len({e.path for e in longer}) == len(longer)


def test_same_seed_gives_the_same_corpus_on_one_worker(corpus, tmp_path):
    out, entries = corpus
    again = build(config(tmp_path, 12.0, workers=1))
    assert len(again) <= len(entries)
    for a, b in zip(again, entries):
        # Piper's waveform noise is not seedable; everything else must match exactly.
        assert dataclasses.replace(a, duration=1.0) == dataclasses.replace(b, duration=1.0)
        assert a.duration == pytest.approx(b.duration, abs=0.05)
        if a.source == "asterisk":
            assert (tmp_path / a.path).read_bytes() == (out / b.path).read_bytes()


def test_blends_and_shifted_voices_stay_inside_their_split():
    from codec.data.builder import _blends, _shifted
    from codec.data.synth import KokoroVoice

    names = ["af_a", "af_b", "am_c", "am_d", "bf_e"]
    split = {KokoroVoice(n).speaker: ("valid" if n in ("am_d", "bf_e") else "train") for n in names}
    cfg = BuildConfig(out="x", hours=1.0, blends=10, voice_shifts=2, valid_fraction=0.2)
    rng = np.random.default_rng(0)
    blends = _blends(names, split, cfg, rng)
    assert len(blends) == 12    # 10 of train voices, 2 of the valid pair
    for speaker in blends:
        first, second, weight = speaker["voice"]
        parts = {split[KokoroVoice(first).speaker], split[KokoroVoice(second).speaker]}
        assert len(parts) == 1 and split[speaker["speaker"]] in parts and 0.3 <= weight <= 0.7
    shifted = _shifted(blends[:3], cfg, rng)
    assert len(shifted) == 6 and len({s["speaker"] for s in shifted}) == 6
    for speaker in shifted:
        factor = speaker["shift"]
        assert 1 / 1.14 - 1e-3 <= factor <= 1.14 + 1e-3 and abs(factor - 1) >= 0.04
        assert speaker["speaker"].startswith(speaker["base"] + "~")


def test_every_source_with_several_speakers_holds_some_out():
    from codec.data.builder import Plan, split_speakers
    from codec.data.sources import RealClip

    real = [RealClip("megaglest", f"/x/{n}.ogg", f"megaglest-{n}", "en", None, n) for n in "abcdefghij"]
    real.append(RealClip("asterisk", "/x/big.wav", "asterisk-big", "en", "text", "big"))
    voices = [{"kind": "kokoro", "speaker": f"kokoro-v{i}"} for i in range(20)]
    voices.append({"kind": "piper", "speaker": "piper-joe"})
    plan = Plan(real, [1.0] * 10 + [100.0], voices, {})
    split = split_speakers(plan, BuildConfig(out="x", hours=1.0, valid_fraction=0.1), np.random.default_rng(3))
    valid = {n for n, part in split.items() if part == "valid"}
    assert sum(n.startswith("kokoro-") for n in valid) == 2  # Kokoro's English, transcripts and all
    assert sum(n.startswith("megaglest-") for n in valid) == 1
    assert split["asterisk-big"] == split["piper-joe"] == "train"  # most of the audio; a lone voice


def test_resume_refuses_a_corpus_split_another_way(corpus, tmp_path):
    out, entries = corpus
    moved = dataclasses.replace(entries[0], split="valid" if entries[0].split == "train" else "train")
    (tmp_path / MANIFEST).write_text(moved.to_json() + "\n")
    with pytest.raises(ValueError, match="another speaker split"):
        build(config(tmp_path, SECONDS + 12.0, workers=1))
