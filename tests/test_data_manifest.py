"""Corpus manifest: entries validate, lines round-trip, a torn last line survives a resume."""
from __future__ import annotations

import json

import pytest

from codec.data.manifest import MANIFEST, Entry, ManifestError, ManifestWriter, read_manifest


def entry(i: int = 0, **changes) -> Entry:
    fields = dict(path=f"train/kokoro/{i:07d}.wav", speaker="kokoro-af_heart", source="kokoro",
                  language="en", duration=2.5, text="Hello there.", split="train",
                  augment={"gain_db": -3.0, "eq": [], "band": None, "reverb": None, "noise": None})
    fields.update(changes)
    return Entry(**fields)


def test_entries_round_trip_through_the_file(tmp_path):
    rows = [entry(0), entry(1, text=None, split="valid", augment=None, language="cs")]
    with ManifestWriter(tmp_path) as writer:
        for row in rows:
            writer.append(row)
    assert read_manifest(tmp_path) == rows
    line = json.loads((tmp_path / MANIFEST).read_text().splitlines()[0])
    assert set(line) == {"path", "speaker", "source", "language", "duration", "text", "split", "augment"}


def test_a_torn_last_line_is_dropped_and_the_writer_repairs_it(tmp_path):
    with ManifestWriter(tmp_path) as writer:
        writer.append(entry(0))
    with open(tmp_path / MANIFEST, "a") as f:
        f.write('{"path": "train/kok')  # writer killed mid-line
    assert read_manifest(tmp_path) == [entry(0)]
    with ManifestWriter(tmp_path) as writer:
        writer.append(entry(1))
    assert read_manifest(tmp_path) == [entry(0), entry(1)]


def test_a_bad_line_in_the_middle_names_file_and_line(tmp_path):
    (tmp_path / MANIFEST).write_text(entry(0).to_json() + "\n{\"path\": 3}\n" + entry(1).to_json() + "\n")
    with pytest.raises(ManifestError, match=r"manifest.jsonl:2"):
        read_manifest(tmp_path)


def test_missing_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no manifest"):
        read_manifest(tmp_path)


@pytest.mark.parametrize("changes, message", [
    ({"split": "test"}, "split"),
    ({"duration": 0.0}, "duration"),
    ({"path": "/abs/x.wav"}, "relative"),
    ({"path": "../x.wav"}, "relative"),
    ({"path": "train/x.flac"}, "wav"),
    ({"speaker": ""}, "speaker"),
])
def test_invalid_entries_are_rejected(changes, message):
    with pytest.raises(ValueError, match=message):
        entry(**changes)
