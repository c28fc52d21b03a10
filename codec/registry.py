"""Codec names -> codecs. Factories are imported lazily, so importing this module is cheap
(no pycodec2, libopus or torch until a codec is actually asked for).

A factory is ``"package.module:function"`` (imported on first use) or a callable; either
way it is called with the codec name and returns a :class:`~codec.base.Codec`. Another
package adds its codecs with e.g. ``register("focal-800", "codec.focal:make_codec")``.
"""
from __future__ import annotations

import importlib
import threading
from typing import Callable, Union

from codec.base import Codec

Factory = Union[str, Callable[[str], Codec]]


class UnknownCodecError(ValueError):
    """No codec of that name is registered; the message lists the valid names."""


_factories: dict[str, Factory] = {}
_instances: dict[str, Codec] = {}
_lock = threading.RLock()  # load each codec once (a neural one takes a while); factories may nest


def register(name: str, factory: Factory, *, replace: bool = False) -> None:
    """Make ``get_codec(name)`` build its codec with ``factory(name)``."""
    if not name or name != name.strip().lower():
        raise ValueError(f"codec names are lower-case without spaces, got {name!r}")
    if isinstance(factory, str) and ":" not in factory:
        raise ValueError(f"lazy factory must look like 'package.module:function', got {factory!r}")
    with _lock:
        if name in _factories and not replace:
            raise ValueError(f"codec {name!r} is already registered")
        _factories[name] = factory
        _instances.pop(name, None)


def unregister(name: str) -> None:
    """Forget ``name`` (no error if it was not registered)."""
    with _lock:
        _factories.pop(name, None)
        _instances.pop(name, None)


def codec_names() -> list[str]:
    """All registered codec names, in registration order."""
    return list(_factories)


def is_built(name: str) -> bool:
    """Whether ``get_codec(name)`` returns at once (the codec was built already)."""
    return name in _instances


def get_codec(name: str) -> Codec:
    """The codec called ``name`` (built once, then shared: codecs are immutable descriptions)."""
    with _lock:
        if name in _instances:
            return _instances[name]
        factory = _factories.get(name)
        if factory is None:
            raise UnknownCodecError(f"unknown codec {name!r}; valid names: "
                                    f"{', '.join(_factories)}")
        if isinstance(factory, str):
            module, attr = factory.split(":", 1)
            factory = getattr(importlib.import_module(module), attr)
        codec = factory(name)
        _instances[name] = codec
        return codec


def make_codec2(name: str) -> Codec:
    from codec.codec2 import Codec2Codec

    return Codec2Codec(name.removeprefix("codec2-"))


def make_opus(name: str) -> Codec:
    from codec.opus import OpusCodec

    kbps, _, fec = name.removeprefix("opus-").partition("k")
    return OpusCodec(int(kbps), fec=fec == "-fec")


for _mode in ("3200", "2400", "1600", "1200", "700c", "450"):
    register(f"codec2-{_mode}", make_codec2)
for _kbps in (6, 8, 10, 12, 16):
    register(f"opus-{_kbps}k", make_opus)
register("opus-16k-fec", make_opus)
for _name in ("focal-800", "focal-600", "focal-400"):  # the neural codec (onnxruntime, no torch)
    register(_name, "codec.neural.runtime:make_codec")
