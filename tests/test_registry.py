"""codec.registry: names, lookup, lazy registration, clear errors."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from codec import registry
from codec.base import Codec
from codec.registry import UnknownCodecError, codec_names, get_codec, register, unregister

BUILTIN = ["codec2-3200", "codec2-2400", "codec2-1600", "codec2-1200", "codec2-700c",
           "codec2-450", "opus-6k", "opus-8k", "opus-10k", "opus-12k", "opus-16k", "opus-16k-fec"]
REPO = Path(__file__).resolve().parents[1]


def test_builtin_names_resolve() -> None:
    assert codec_names()[:len(BUILTIN)] == BUILTIN
    for name in BUILTIN:
        codec = get_codec(name)
        assert isinstance(codec, Codec) and codec.name == name
        assert get_codec(name) is codec  # built once


def test_unknown_name_lists_valid_ones() -> None:
    with pytest.raises(UnknownCodecError) as info:
        get_codec("opus-7k")
    assert isinstance(info.value, ValueError)
    assert "opus-7k" in str(info.value) and "codec2-700c" in str(info.value)


def make_test_codec(name: str) -> Codec:
    return get_codec("opus-8k")


def test_lazy_factory_is_imported_on_first_use() -> None:
    register("test-lazy", "tests.test_registry:make_test_codec")
    register("test-missing", "no_such_module_xyz:make")  # not imported yet: no error
    try:
        assert "test-lazy" in codec_names()
        assert get_codec("test-lazy") is get_codec("opus-8k")
        with pytest.raises(ModuleNotFoundError):
            get_codec("test-missing")
    finally:
        unregister("test-lazy")
        unregister("test-missing")
    assert "test-lazy" not in codec_names()


def test_register_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register("opus-8k", registry.make_opus)
    with pytest.raises(ValueError, match="package.module:function"):
        register("test-bad", "codec.opus")
    with pytest.raises(ValueError, match="lower-case"):
        register("Opus 8k", registry.make_opus)


def test_import_is_cheap() -> None:
    code = ("import sys, codec.registry; "
            "print(sorted(m for m in ('torch', 'pycodec2', 'av', 'codec.opus') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"
