"""Opus baselines (16 kHz, 20 ms, VoIP), on the libopus that ships inside PyAV.

We call libopus through ctypes instead of PyAV's CodecContext because FFmpeg's wrapper
cannot do what a call needs: it always decodes at 48 kHz, has no way to ask for packet
loss concealment (an empty packet means end of stream) and cannot decode in-band FEC.
Direct calls give exactly one packet per 20 ms frame, 16 kHz output, libopus's own PLC
for a missing frame, and FEC recovery.

In-band FEC (``OpusCodec(kbps, fec=True)``; registered as ``opus-16k-fec`` only, the one rate
where libopus actually emits FEC data for 20 ms speech frames): a packet then also carries a
low-bitrate copy of the previous frame, recoverable only from the NEXT packet. The FEC
decoder therefore runs one frame late: ``decode(packet n)`` returns frame n-1, recovered
from packet n's FEC data when packet n-1 was lost (or concealed by PLC when both were).
That costs one frame (20 ms) of extra delay, which ``delay_samples`` includes, and keeps
the one-in/one-out interface.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from codec.base import Codec, CodecError, FrameDecoder, FrameEncoder

SAMPLE_RATE = 16000
FRAME_SAMPLES = 320  # 20 ms
BITRATES_KBPS = (6, 8, 10, 12, 16)
MAX_PACKET = 1275  # largest Opus frame, RFC 6716 section 3.2.1
# Expected loss we tell the encoder with FEC on. libopus 1.6 only adds the FEC copy (LBRR)
# when the bitrate allows: measured on speech, 88% of packets carry it at 16 kbps with 25%,
# none at 16 kbps with 10%, and none at 6-12 kbps whatever the setting.
FEC_LOSS_PERCENT = 25

# From opus_defines.h.
_OK = 0
_APPLICATION_VOIP = 2048
_SET_BITRATE = 4002
_SET_COMPLEXITY = 4010
_SET_INBAND_FEC = 4012
_SET_PACKET_LOSS_PERC = 4014
_SET_SIGNAL = 4024
_SIGNAL_VOICE = 3001
_GET_LOOKAHEAD = 4027


@lru_cache(maxsize=1)
def _libopus() -> ctypes.CDLL:
    """PyAV's bundled libopus, else the system's."""
    candidates: list[str] = []
    try:
        import av

        root = Path(av.__file__).resolve().parent
        for pattern in ("../av.libs/libopus*.so*", ".dylibs/libopus*.dylib", "../av.libs/opus*.dll"):
            candidates += sorted(str(p) for p in root.glob(pattern))
    except ImportError:
        pass
    system = ctypes.util.find_library("opus")
    if system:
        candidates.append(system)
    for name in candidates:
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        _declare(lib)
        return lib
    raise CodecError("libopus not found: install PyAV (pip install av) or the system libopus")


def _declare(lib: ctypes.CDLL) -> None:
    p, i32, fp = ctypes.c_void_p, ctypes.c_int32, ctypes.POINTER(ctypes.c_float)
    err = ctypes.POINTER(ctypes.c_int)
    lib.opus_encoder_create.restype = p
    lib.opus_encoder_create.argtypes = [i32, ctypes.c_int, ctypes.c_int, err]
    lib.opus_decoder_create.restype = p
    lib.opus_decoder_create.argtypes = [i32, ctypes.c_int, err]
    lib.opus_encoder_destroy.argtypes = lib.opus_decoder_destroy.argtypes = [p]
    lib.opus_encode_float.restype = i32
    lib.opus_encode_float.argtypes = [p, fp, ctypes.c_int, ctypes.c_char_p, i32]
    lib.opus_decode_float.restype = ctypes.c_int
    lib.opus_decode_float.argtypes = [p, ctypes.c_char_p, i32, fp, ctypes.c_int, ctypes.c_int]
    lib.opus_packet_get_nb_samples.restype = ctypes.c_int
    lib.opus_packet_get_nb_samples.argtypes = [ctypes.c_char_p, i32, i32]
    lib.opus_packet_parse.restype = ctypes.c_int
    lib.opus_packet_parse.argtypes = [ctypes.c_char_p, i32, p, p, ctypes.POINTER(ctypes.c_int16), p]
    lib.opus_strerror.restype = ctypes.c_char_p
    lib.opus_strerror.argtypes = [ctypes.c_int]
    # opus_*_ctl are variadic: their arguments are passed as explicit ctypes values.


def _check(code: int, what: str) -> int:
    if code < 0:
        raise CodecError(f"{what}: {_libopus().opus_strerror(code).decode()}")
    return code


class OpusCodec(Codec):
    """Opus at ``kbps`` kbit/s nominal (VBR); ``fec`` adds in-band FEC and one frame of delay."""

    sample_rate = SAMPLE_RATE
    frame_samples = FRAME_SAMPLES

    def __init__(self, kbps: int, fec: bool = False) -> None:
        if kbps not in BITRATES_KBPS:
            raise CodecError(f"Opus bitrate must be one of {BITRATES_KBPS} kbps, got {kbps}")
        self.kbps, self.fec = kbps, fec
        self.name = f"opus-{kbps}k" + ("-fec" if fec else "")
        self.bitrate = kbps * 1000.0
        self.lookahead = _OpusEncoderState(self).lookahead
        self.delay_samples = self.lookahead + (FRAME_SAMPLES if fec else 0)

    def encoder(self) -> FrameEncoder:
        return OpusEncoder(self)

    def decoder(self) -> FrameDecoder:
        return OpusFecDecoder() if self.fec else OpusDecoder()


class _OpusEncoderState:
    def __init__(self, codec: OpusCodec) -> None:
        lib = self._lib = _libopus()
        err = ctypes.c_int(0)
        self._st = lib.opus_encoder_create(SAMPLE_RATE, 1, _APPLICATION_VOIP, ctypes.byref(err))
        _check(err.value, "opus_encoder_create")
        self.ctl(_SET_BITRATE, int(codec.bitrate))
        self.ctl(_SET_SIGNAL, _SIGNAL_VOICE)
        self.ctl(_SET_COMPLEXITY, 10)
        self.ctl(_SET_INBAND_FEC, 1 if codec.fec else 0)
        self.ctl(_SET_PACKET_LOSS_PERC, FEC_LOSS_PERCENT if codec.fec else 0)
        lookahead = ctypes.c_int32(0)
        _check(lib.opus_encoder_ctl(ctypes.c_void_p(self._st), ctypes.c_int(_GET_LOOKAHEAD),
                                    ctypes.byref(lookahead)), "opus lookahead")
        self.lookahead = lookahead.value

    def ctl(self, request: int, value: int) -> None:
        _check(self._lib.opus_encoder_ctl(ctypes.c_void_p(self._st), ctypes.c_int(request),
                                          ctypes.c_int32(value)), f"opus_encoder_ctl({request})")

    def __del__(self) -> None:
        if getattr(self, "_st", None):
            self._lib.opus_encoder_destroy(self._st)


class OpusEncoder(FrameEncoder):
    def __init__(self, codec: OpusCodec) -> None:
        self._codec = codec
        self._state = _OpusEncoderState(codec)
        self._out = ctypes.create_string_buffer(MAX_PACKET)

    def encode(self, pcm: np.ndarray) -> bytes:
        pcm = np.asarray(pcm)
        if pcm.shape != (FRAME_SAMPLES,):
            raise CodecError(f"{self._codec.name} encodes frames of shape ({FRAME_SAMPLES},), "
                             f"got {pcm.shape}")
        pcm = np.ascontiguousarray(pcm, dtype=np.float32)
        n = _check(self._state._lib.opus_encode_float(
            self._state._st, pcm.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), FRAME_SAMPLES,
            self._out, MAX_PACKET), "opus_encode_float")
        return self._out.raw[:n]


class OpusDecoder(FrameDecoder):
    """Decodes each packet as it comes; ``None`` runs libopus's packet loss concealment."""

    def __init__(self) -> None:
        lib = self._lib = _libopus()
        err = ctypes.c_int(0)
        self._st = lib.opus_decoder_create(SAMPLE_RATE, 1, ctypes.byref(err))
        _check(err.value, "opus_decoder_create")

    def __del__(self) -> None:
        if getattr(self, "_st", None):
            self._lib.opus_decoder_destroy(self._st)

    def _run(self, payload: bytes | None, fec: bool = False) -> np.ndarray:
        """Decode ``payload`` (``fec``: the previous frame's FEC copy in it); ``None``: PLC."""
        out = np.zeros(FRAME_SAMPLES, dtype=np.float32)
        n = self._lib.opus_decode_float(
            self._st, payload, 0 if payload is None else len(payload),
            out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), FRAME_SAMPLES, int(fec))
        _check(n, "opus_decode")
        if n != FRAME_SAMPLES:
            raise CodecError(f"opus decoded {n} samples, expected {FRAME_SAMPLES}")
        return out

    @staticmethod
    def validate(payload: object) -> bytes:
        """``payload`` as bytes if it is one 20 ms Opus packet, else CodecError."""
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise CodecError(f"Opus payload must be bytes, got {type(payload).__name__}")
        payload = bytes(payload)
        if not 1 <= len(payload) <= MAX_PACKET:
            raise CodecError(f"Opus payload must be 1..{MAX_PACKET} bytes, got {len(payload)}")
        lib = _libopus()
        # Checks the framing (frame count and sizes fit the packet), which decoding would
        # otherwise only find out one frame late in the FEC decoder.
        sizes = (ctypes.c_int16 * 48)()
        _check(lib.opus_packet_parse(payload, len(payload), None, None, sizes, None),
               "bad Opus packet")
        n = _check(lib.opus_packet_get_nb_samples(payload, len(payload), SAMPLE_RATE),
                   "bad Opus packet")
        if n != FRAME_SAMPLES:
            raise CodecError(f"Opus packet holds {n} samples, expected {FRAME_SAMPLES} (20 ms)")
        return payload

    def decode(self, payload: bytes | None) -> np.ndarray:
        return self._run(None if payload is None else self.validate(payload))


class OpusFecDecoder(OpusDecoder):
    """One frame late: ``decode(packet n)`` returns frame n-1, using packet n's FEC if needed."""

    def __init__(self) -> None:
        super().__init__()
        self._pending: bytes | None = None  # packet of the frame to output next
        self._pending_lost = False
        self._started = False

    def decode(self, payload: bytes | None) -> np.ndarray:
        if payload is not None:
            payload = self.validate(payload)
        if not self._started:  # nothing precedes the first frame: it is delay, i.e. silence
            out = np.zeros(FRAME_SAMPLES, dtype=np.float32)
        elif not self._pending_lost:
            out = self._run(self._pending)
        else:  # previous frame lost: recover it from this packet's FEC, or conceal
            out = self._run(payload, fec=payload is not None)
        self._started = True
        self._pending, self._pending_lost = payload, payload is None
        return out
