"""XOR parity over groups of frames: build a block, rebuild one missing frame from it."""
from __future__ import annotations

from typing import Callable, Sequence

from transport.packet import TS_MOD, ParityBlock


def _xor_into(acc: bytearray, frame: bytes) -> None:
    if len(frame) > len(acc):
        acc.extend(bytes(len(frame) - len(acc)))
    for i, byte in enumerate(frame):
        acc[i] ^= byte


def make_parity(start: int, stride: int, frames: Sequence[bytes]) -> ParityBlock:
    """The parity block covering ``frames``, which sit at ``start + k * stride``."""
    acc = bytearray()
    length_xor = 0
    for frame in frames:
        _xor_into(acc, frame)
        length_xor ^= len(frame)
    return ParityBlock(start % TS_MOD, stride, len(frames), length_xor, bytes(acc))


def recover(block: ParityBlock, timestamps: Sequence[int],
            lookup: Callable[[int], bytes | None]) -> tuple[int, bytes] | None:
    """Rebuild the single missing frame of ``block``, if exactly one is missing.

    ``timestamps`` are the covered frames' timestamps in the caller's own (e.g. unwrapped)
    numbering, one per covered frame; ``lookup(ts)`` returns a known frame or ``None``.
    Returns ``(ts, frame)`` or ``None`` when nothing or more than one frame is missing,
    or when the parity is inconsistent with the frames the caller holds.
    """
    acc = bytearray(block.payload)
    length = block.length_xor
    missing = None
    for ts in timestamps:
        frame = lookup(ts)
        if frame is None:
            if missing is not None:
                return None
            missing = ts
            continue
        if len(frame) > len(acc):
            return None  # a covered frame longer than the parity: not the frames it was made from
        _xor_into(acc, frame)
        length ^= len(frame)
    if missing is None or length > len(acc) or any(acc[length:]):
        return None
    return missing, bytes(acc[:length])
