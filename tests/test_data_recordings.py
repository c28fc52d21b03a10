"""Real speech from Debian game and TTS data packages: enumeration, speakers, languages.

The packages are big (0.1-0.4 GB each), so these tests lay out small trees of the same shape
in a package cache instead of fetching them.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from codec.data import recordings
from codec.data.sources import load_real


def fake_package(cache: Path, package: str, files: list[str]) -> Path:
    root = cache / package
    root.mkdir(parents=True, exist_ok=True)
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, 0.1 * np.sin(np.arange(22050) / 7.0), 22050,
                 format="OGG" if name.endswith(".ogg") else "WAV")
    (root / ".complete").write_text("fake\n")
    return root


def test_each_source_names_speakers_and_languages(tmp_path: Path):
    fake_package(tmp_path, "festvox-ru", [
        "usr/share/festival/voices/russian/msu_ru_nsh_clunits/wav/ru_0001.wav"])
    fake_package(tmp_path, "hedgewars-data", [
        "usr/share/games/hedgewars/Data/Sounds/voices/Pirate/Hello.ogg",
        "usr/share/games/hedgewars/Data/Sounds/voices/Default_pl/Hello.ogg"])
    fake_package(tmp_path, "megaglest-data", [
        "usr/share/games/megaglest/techs/megapack/factions/magic/units/initiate/sounds/yes.wav",
        "usr/share/games/megaglest/techs/megapack/commondata/sounds/click.wav"])
    clips = {s: recordings.recording_clips(s, tmp_path) for s in ("festvox", "hedgewars", "megaglest")}
    assert [(c.speaker, c.language) for c in clips["festvox"]] == [("festvox-ru-nsh", "ru")]
    assert sorted((c.speaker, c.language) for c in clips["hedgewars"]) == [
        ("hedgewars-default_pl", "pl"), ("hedgewars-pirate", "en")]
    assert [c.speaker for c in clips["megaglest"]] == ["megaglest-magic-initiate"]  # no sfx
    pcm = load_real(clips["hedgewars"][0])
    assert pcm.dtype == np.float32 and len(pcm) == pytest.approx(16000, abs=5)


def test_warzone_lines_come_out_of_the_zip_without_effects(tmp_path: Path):
    root = fake_package(tmp_path, "warzone2100-data", [])
    sounds = fake_package(tmp_path / "src", "x", ["audio/tutorial/line1.ogg", "audio/sfx/boom.ogg",
                                                  "audio/radclick/click.ogg", "audio/top.ogg"])
    archive = root / "usr/share/games/warzone2100/base.wz"
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted((sounds / "audio").rglob("*.ogg")):
            zf.write(path, path.relative_to(sounds).as_posix())
    clips = recordings.recording_clips("warzone", tmp_path)
    assert [(c.speaker, c.clip_id) for c in clips] == [("warzone-tutorial", "warzone/tutorial/line1")]
    assert recordings.recording_clips("warzone", tmp_path) == clips  # unpacked once, reused


def test_unknown_source_is_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="unknown recording source"):
        recordings.recording_clips("pocketsphinx", tmp_path)
