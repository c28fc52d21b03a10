"""XOR parity blocks."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from transport.parity import make_parity, recover


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=50), min_size=1, max_size=12), st.data())
def test_any_single_missing_frame_is_rebuilt(frames: list[bytes], data: st.DataObject) -> None:
    block = make_parity(100, 3, frames)
    stamps = block.timestamps()
    assert stamps == [100 + 3 * k for k in range(len(frames))]
    gone = data.draw(st.integers(0, len(frames) - 1))
    known = {ts: f for k, (ts, f) in enumerate(zip(stamps, frames)) if k != gone}
    assert recover(block, stamps, known.get) == (stamps[gone], frames[gone])


def test_nothing_or_two_missing() -> None:
    frames = [b"ab", b"c", b"def"]
    block = make_parity(0, 1, frames)
    assert recover(block, [0, 1, 2], dict(enumerate(frames)).get) is None
    assert recover(block, [0, 1, 2], {0: b"ab"}.get) is None


def test_inconsistent_frames_are_not_trusted() -> None:
    block = make_parity(0, 1, [b"\x01", b"\x02\x03"])
    assert recover(block, [0, 1], {0: b"\x01\x01\x01"}.get) is None  # longer than the parity
