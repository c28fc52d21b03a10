"""Payload-type numbers: which codec and mode a packet's frames are in (6 bits on the wire).

The browser uses the same table (web/js). Opus streams of any bitrate share one number:
the Opus decoder needs no mode. Decoding a payload type uses :func:`decoder_codec_name`.
"""
from __future__ import annotations

PAYLOAD_TYPES: dict[str, int] = {
    "focal-800": 1, "focal-600": 2, "focal-400": 3,
    "codec2-3200": 8, "codec2-2400": 9, "codec2-1600": 10, "codec2-1200": 11,
    "codec2-700c": 12, "codec2-450": 13,
    "opus-6k": 16, "opus-8k": 16, "opus-10k": 16, "opus-12k": 16, "opus-16k": 16, "opus-16k-fec": 16,
}

# One codec able to decode each payload type (for Opus: any bitrate decodes all).
_DECODERS: dict[int, str] = {}
for _name, _pt in PAYLOAD_TYPES.items():
    _DECODERS.setdefault(_pt, _name)


class UnknownPayloadType(ValueError):
    """A codec without a payload type, or a payload type no codec claims."""


def payload_type(codec_name: str) -> int:
    """The payload type a sender using ``codec_name`` puts in its packets."""
    try:
        return PAYLOAD_TYPES[codec_name]
    except KeyError:
        raise UnknownPayloadType(f"codec {codec_name!r} has no payload type") from None


def decoder_codec_name(pt: int) -> str:
    """The codec whose decoder plays payload type ``pt``."""
    try:
        return _DECODERS[pt]
    except KeyError:
        raise UnknownPayloadType(f"unknown payload type {pt}") from None
