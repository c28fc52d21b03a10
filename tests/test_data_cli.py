"""``focalcall data`` argument handling and its refusals."""
from __future__ import annotations

import argparse

import pytest

from codec.data import cli
from codec.data.debs import ReservedSourceError


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_build_defaults_use_every_source_and_both_cores(tmp_path):
    args = parse(["data", "build", "--out", str(tmp_path), "--hours", "2"])
    assert args.sources == "kokoro,piper,asterisk,fillets,festvox,hedgewars,megaglest,warzone"
    assert args.workers == 2 and args.seed == 0 and args.hours == 2.0


def test_build_refuses_reserved_audio_before_doing_anything(tmp_path):
    args = parse(["data", "build", "--out", str(tmp_path / "c"), "--hours", "1",
                  "--sources", "asterisk,pocketsphinx-testdata"])
    with pytest.raises(ReservedSourceError, match="reserved"):
        args.func(args)
    assert not (tmp_path / "c").exists()


def test_build_rejects_bad_numbers(tmp_path):
    args = parse(["data", "build", "--out", str(tmp_path), "--hours", "-1"])
    with pytest.raises(ValueError, match="hours"):
        args.func(args)
    args = parse(["data", "build", "--out", str(tmp_path), "--hours", "1", "--workers", "0"])
    with pytest.raises(ValueError, match="workers"):
        args.func(args)


def test_build_rejects_an_unknown_kokoro_language(tmp_path):
    args = parse(["data", "build", "--out", str(tmp_path / "c"), "--hours", "1",
                  "--kokoro-languages", "en,xx"])
    with pytest.raises(ValueError, match="choose from .*en"):
        args.func(args)
    assert not (tmp_path / "c").exists()


def test_kokoro_languages_pick_the_voices_of_those_languages(monkeypatch):
    from codec.data import synth

    monkeypatch.setattr(synth, "kokoro_voices", lambda cache=None: ["af_heart", "bm_lewis", "ff_siwis"])
    assert cli._kokoro_voices("en") == ("af_heart", "bm_lewis")
    assert cli._kokoro_voices(None) is None
