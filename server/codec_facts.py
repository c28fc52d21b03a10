"""What the server needs to know of a payload type's codec: its delay, bitrate and frame length."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class CodecFacts:
    """Algorithmic delay (frame + look-ahead) in seconds, bitrate in bit/s, frame length in ms."""

    delay_s: float
    bitrate: float
    frame_ms: float


@lru_cache(maxsize=None)
def codec_facts(pt: int) -> CodecFacts:
    """The facts of payload type ``pt``'s codec. Loading a neural codec loads its model: call
    this off the event loop. Raises ``UnknownPayloadType`` (a ``ValueError``) for a payload
    type no codec claims."""
    from codec.payload_types import decoder_codec_name
    from codec.registry import get_codec

    codec = get_codec(decoder_codec_name(pt))
    return CodecFacts(codec.algorithmic_latency_ms / 1000, float(codec.bitrate), float(codec.frame_ms))
