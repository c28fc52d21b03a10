"""Codec2 baselines (8 kHz), one frame per payload, lost frames concealed by repeat-and-fade.

Modes 3200 … 700C come from ``pycodec2`` (which bundles libcodec2 1.2). libcodec2 1.2
dropped mode 450, so ``codec2-450`` calls Debian's libcodec2 1.0 (package
``libcodec2-1.0``) through ctypes; without it, creating that codec raises CodecError.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache

import numpy as np

from codec.base import Codec, CodecError, FrameDecoder, FrameEncoder
from codec.conceal import RepeatFadeConcealer

SAMPLE_RATE = 8000

# name suffix -> pycodec2 mode key, or None for the libcodec2 1.0 (ctypes) path
MODES: dict[str, int | None] = {
    "3200": 3200, "2400": 2400, "1600": 1600, "1200": 1200, "700c": 700, "450": None,
}
# Decoded output lags input by this many 8 kHz samples. Codec2 synthesises its own phases, so
# waveforms do not line up sample by sample; these are the mean lags of the decoded level's
# half-way crossings at 600 onsets and offsets of voiced bursts (tests/test_codec2.py measures
# the same way). 3200 and 1600 agree with the design: the analysis window is centred 160
# samples before the newest input. 2400/1200 (parameters interpolated between frames), 700C
# and 450 (40 ms vector-quantised frames) lag more.
DELAYS = {"3200": 160, "2400": 196, "1600": 160, "1200": 194, "700c": 239, "450": 162}

_LIBCODEC2_10 = ("libcodec2.so.1.0",)  # Debian bookworm's soname; 1.0.x still has mode 450
_MODE_450 = 10  # CODEC2_MODE_450 in libcodec2 1.0's codec2.h


class _CtypesCodec2:
    """The slice of pycodec2.Codec2's API we use, over a libcodec2 loaded with ctypes."""

    def __init__(self, lib: ctypes.CDLL, mode: int) -> None:
        self._lib = lib
        state = lib.codec2_create(mode)
        if not state:
            raise CodecError(f"libcodec2 has no mode {mode}")
        self._state = ctypes.c_void_p(state)

    def __del__(self) -> None:
        if getattr(self, "_state", None):
            self._lib.codec2_destroy(self._state)

    def samples_per_frame(self) -> int:
        return self._lib.codec2_samples_per_frame(self._state)

    def bytes_per_frame(self) -> int:
        return self._lib.codec2_bytes_per_frame(self._state)

    def encode(self, speech: np.ndarray) -> bytes:
        speech = np.ascontiguousarray(speech, dtype=np.int16)
        out = ctypes.create_string_buffer(self.bytes_per_frame())
        self._lib.codec2_encode(self._state, out, speech.ctypes.data_as(ctypes.c_void_p))
        return out.raw

    def decode(self, bits: bytes) -> np.ndarray:
        speech = np.empty(self.samples_per_frame(), dtype=np.int16)
        self._lib.codec2_decode(self._state, speech.ctypes.data_as(ctypes.c_void_p), bits)
        return speech


@lru_cache(maxsize=1)
def _load_libcodec2_10() -> ctypes.CDLL:
    for name in (*_LIBCODEC2_10, ctypes.util.find_library("codec2")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        lib.codec2_create.restype = ctypes.c_void_p
        lib.codec2_create.argtypes = [ctypes.c_int]
        for fn in ("codec2_destroy", "codec2_samples_per_frame", "codec2_bytes_per_frame"):
            getattr(lib, fn).argtypes = [ctypes.c_void_p]
        lib.codec2_encode.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
        lib.codec2_decode.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p]
        state = lib.codec2_create(_MODE_450)
        if state:
            lib.codec2_destroy(ctypes.c_void_p(state))
            return lib
    raise CodecError("codec2-450 needs libcodec2 1.0 with mode 450 (Debian package "
                     "libcodec2-1.0); pycodec2's bundled libcodec2 1.2 dropped that mode")


def _engine(mode: str):
    key = MODES[mode]
    if key is None:
        return _CtypesCodec2(_load_libcodec2_10(), _MODE_450)
    import pycodec2  # imported here so the registry stays cheap to import

    return pycodec2.Codec2(key)


def float_to_int16(pcm: np.ndarray) -> np.ndarray:
    """float PCM in [-1, 1] -> int16, clipping."""
    return np.round(np.clip(pcm, -1.0, 1.0) * 32767.0).astype(np.int16)


class Codec2Codec(Codec):
    """Codec2 in one of :data:`MODES`; ``bitrate`` counts whole payload bytes (700C: 800 bit/s)."""

    sample_rate = SAMPLE_RATE

    def __init__(self, mode: str) -> None:
        if mode not in MODES:
            raise CodecError(f"unknown Codec2 mode {mode!r}; choose from {', '.join(MODES)}")
        self.mode = mode
        self.name = f"codec2-{mode}"
        probe = _engine(mode)
        self.frame_samples = probe.samples_per_frame()
        self.payload_bytes = probe.bytes_per_frame()
        self.bitrate = 8.0 * self.payload_bytes * self.sample_rate / self.frame_samples
        self.delay_samples = DELAYS[mode]

    def encoder(self) -> FrameEncoder:
        return Codec2Encoder(self)

    def decoder(self) -> FrameDecoder:
        return Codec2Decoder(self)


class Codec2Encoder(FrameEncoder):
    def __init__(self, codec: Codec2Codec) -> None:
        self._codec = codec
        self._engine = _engine(codec.mode)

    def encode(self, pcm: np.ndarray) -> bytes:
        pcm = np.asarray(pcm)
        if pcm.shape != (self._codec.frame_samples,):
            raise CodecError(f"{self._codec.name} encodes frames of shape "
                             f"({self._codec.frame_samples},), got {pcm.shape}")
        return bytes(self._engine.encode(float_to_int16(pcm)))


class Codec2Decoder(FrameDecoder):
    def __init__(self, codec: Codec2Codec) -> None:
        self._codec = codec
        self._engine = _engine(codec.mode)
        self._concealer = RepeatFadeConcealer(self._decode_payload, codec.frame_samples,
                                              codec.sample_rate)

    def _decode_payload(self, payload: bytes) -> np.ndarray:
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise CodecError(f"{self._codec.name} payload must be bytes, "
                             f"got {type(payload).__name__}")
        if len(payload) != self._codec.payload_bytes:
            raise CodecError(f"{self._codec.name} payload must be {self._codec.payload_bytes} "
                             f"bytes, got {len(payload)}")
        return self._engine.decode(bytes(payload)).astype(np.float32) / 32768.0

    def decode(self, payload: bytes | None) -> np.ndarray:
        return self._concealer.decode(payload)
