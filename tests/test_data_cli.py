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
    assert args.sources == "kokoro,piper,asterisk,fillets"
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
