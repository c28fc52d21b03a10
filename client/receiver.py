"""One remote sender's audio as heard here: reorder a little, decode in order, conceal gaps.

Synchronous and clock-free so it can be tested without a network. The transport issue
replaces the small reorder window with the adaptive jitter buffer.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codec.base import Codec, CodecError


@dataclass
class TrackStats:
    """What happened to one sender's packets."""

    received: int = 0
    duplicates: int = 0
    late: int = 0
    concealed: int = 0
    undecodable: int = 0
    payload_bytes: int = 0


class SenderTrack:
    """Decodes one sender's frames in sequence order.

    Frames arriving out of order wait in a window of ``reorder_frames``; a gap still open
    when a frame that far ahead has arrived is declared lost and concealed by the decoder.
    """

    def __init__(self, codec: Codec, reorder_frames: int = 3) -> None:
        self.codec = codec
        self.reorder_frames = reorder_frames
        self.stats = TrackStats()
        self._decoder = codec.decoder()
        self._pending: dict[int, bytes] = {}
        self._next: int | None = None  # extended sequence number of the next frame to decode
        self._last: int | None = None  # highest extended sequence number seen
        self._chunks: list[np.ndarray] = []

    def push(self, seq: int, payload: bytes) -> list[np.ndarray]:
        """Accept the frame with 16-bit sequence ``seq``; return the PCM frames now decodable."""
        ext = self._extend(seq)
        self.stats.received += 1
        self.stats.payload_bytes += len(payload)
        if self._next is None:
            self._next = ext
        if ext < self._next:
            self.stats.late += 1
            return []
        if ext in self._pending:
            self.stats.duplicates += 1
            return []
        self._pending[ext] = payload
        out = self._drain()
        while self._pending and max(self._pending) - self._next >= self.reorder_frames:
            out.append(self._decode(None))
            out += self._drain()
        return out

    def flush(self) -> list[np.ndarray]:
        """Decode everything still waiting, concealing gaps before the last frame received."""
        out = []
        while self._pending:
            out += self._drain()
            if self._pending:
                out.append(self._decode(None))
        return out

    def audio(self) -> np.ndarray:
        """Everything decoded so far, at the codec's sample rate (decoder delay included)."""
        if not self._chunks:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(self._chunks)

    def _drain(self) -> list[np.ndarray]:
        out = []
        while self._next in self._pending:
            out.append(self._decode(self._pending.pop(self._next)))
        return out

    def _decode(self, payload: bytes | None) -> np.ndarray:
        if payload is None:
            self.stats.concealed += 1
        try:
            pcm = self._decoder.decode(payload)
        except CodecError:
            self.stats.undecodable += 1
            pcm = self._decoder.decode(None)
        self._next += 1
        self._chunks.append(pcm)
        return pcm

    def _extend(self, seq: int) -> int:
        """Unwrap a 16-bit sequence number against the highest seen so far."""
        if self._last is None:
            self._last = seq
            return seq
        delta = ((seq - self._last + 0x8000) & 0xFFFF) - 0x8000
        ext = self._last + delta
        self._last = max(self._last, ext)
        return ext
