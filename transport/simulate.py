"""Offline link simulation: packetizer -> impairment -> jitter buffer, on a fake clock.

Frame ``i`` is captured during ``[i, i+1)`` frame periods and handed to the packetizer at
the end of it; packets leave at once, cross the impairment, and the receiver pops one
frame every period (half a period out of phase, so no arrival ties a pop).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from transport.impairment import Impairment, ImpairmentStats
from transport.jitterbuffer import JitterBuffer, JitterBufferConfig, JitterStats
from transport.packet import TS_MOD
from transport.packetizer import Packetizer, PacketizerConfig


@dataclass
class LinkResult:
    """What a receiver's decoder would have been given.

    ``played`` has one entry per frame period from playout start: a frame, or ``None`` for
    MISSING (conceal). ``start_delay_frames`` is how many periods after the first frame's
    capture began that playout started.
    """

    played: list[bytes | None]
    start_delay_frames: int
    buffer: JitterStats
    network: ImpairmentStats = field(default_factory=ImpairmentStats)
    packets_sent: int = 0
    bytes_sent: int = 0


def simulate_link(frames: Sequence[bytes], impairment: Impairment | str | None = None,
                  packetizer: PacketizerConfig | None = None,
                  buffer: JitterBufferConfig | None = None,
                  quiet: Callable[[int], bool] | None = None) -> LinkResult:
    """Run ``frames`` through a whole link. ``impairment`` is a netem string (seed 0) or an
    :class:`Impairment`; ``quiet(i)`` is the sender's low-energy hint for frame ``i``."""
    buffer = buffer or JitterBufferConfig()
    period = buffer.frame_ms / 1000
    config = packetizer or PacketizerConfig(payload_type=1)
    pk = Packetizer(config)
    sent: list[tuple[float, bytes]] = []
    for i, f in enumerate(frames):
        sent += [((i + 1) * period, p) for p in pk.push(f, quiet=bool(quiet and quiet(i)))]
    sent += [(len(frames) * period, p) for p in pk.flush()]
    if isinstance(impairment, str):
        impairment = Impairment(impairment)
    arrivals = impairment.apply(sent) if impairment else list(sent)
    jb = JitterBuffer(buffer)
    played: list[bytes | None] = []
    start, k = -1, 0
    end = (config.first_timestamp + len(frames)) % TS_MOD  # just after the last frame
    # Enough pops to play everything even at the maximum delay, then stop at the last frame.
    limit = len(frames) + int((buffer.max_delay_ms + buffer.initial_delay_ms) / buffer.frame_ms) + 20
    for j in range(limit):
        now = (j + 0.5) * period
        while k < len(arrivals) and arrivals[k][0] <= now:
            jb.push(arrivals[k][1], arrivals[k][0])
            k += 1
        out = jb.pop(now)
        if out is None:
            continue
        if start < 0:
            start = j
        played.append(out or None)
        if (jb.playout_timestamp - end) % TS_MOD < TS_MOD // 2:  # at or past the end
            break
    return LinkResult(played, max(start, 0), jb.stats,
                      impairment.stats if impairment else ImpairmentStats(),
                      len(sent), sum(len(p) for _, p in sent))
