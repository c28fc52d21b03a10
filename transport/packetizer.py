"""Sender side: group codec frames into packets with redundancy and optional parity."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from transport.packet import (MAX_PARITY_BLOCKS, MAX_PARITY_COUNT, MAX_PAYLOAD_TYPE, MAX_PRIMARY,
                              MAX_REDUNDANT, MAX_SENDER, SEQ_MOD, TS_MOD, Packet, ParityBlock)
from transport.parity import make_parity
from transport.report import ReceiverReport


@dataclass
class PacketizerConfig:
    """How a sender packs frames. ``redundancy`` counts frames (8 x 20 ms = 160 ms);
    ``parity_packets`` > 0 adds XOR parity over each group of that many packets."""

    payload_type: int
    sender: int = 0
    frames_per_packet: int = 2
    redundancy: int = 8
    parity_packets: int = 0
    first_seq: int = 0
    first_timestamp: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.payload_type <= MAX_PAYLOAD_TYPE:
            raise ValueError(f"payload_type must be in 0..{MAX_PAYLOAD_TYPE}")
        if not 0 <= self.sender <= MAX_SENDER:
            raise ValueError(f"sender must be in 0..{MAX_SENDER}")
        if not 1 <= self.frames_per_packet <= MAX_PRIMARY:
            raise ValueError(f"frames_per_packet must be in 1..{MAX_PRIMARY}")
        if not 0 <= self.redundancy <= MAX_REDUNDANT:
            raise ValueError(f"redundancy must be in 0..{MAX_REDUNDANT} frames")
        if not 0 <= self.parity_packets <= MAX_PARITY_COUNT:
            raise ValueError(f"parity_packets must be in 0..{MAX_PARITY_COUNT}")
        if self.parity_packets and self.frames_per_packet > MAX_PARITY_BLOCKS:
            raise ValueError("too many frames per packet for parity")
        if not 0 <= self.first_seq < SEQ_MOD or not 0 <= self.first_timestamp < TS_MOD:
            raise ValueError("first_seq / first_timestamp out of range")


class Packetizer:
    """``push(frame)`` once per codec frame; returns the packets to send now (0 or 1)."""

    def __init__(self, config: PacketizerConfig) -> None:
        self.config = config
        self._redundancy = config.redundancy
        self._targets: list[int] = []  # what the latest reports asked for, newest last
        self._seq = config.first_seq
        self._next_ts = config.first_timestamp  # timestamp of the next frame pushed
        self._pending: list[bytes] = []
        self._quiet = True
        self._history: deque[bytes] = deque(maxlen=MAX_REDUNDANT)  # frames already sent
        self._group: list[bytes] = []  # primary frames of the current parity group
        self._group_start = 0
        self._parity: tuple[ParityBlock, ...] = ()  # blocks waiting for the next packet

    @property
    def redundancy(self) -> int:
        """Redundant frames per packet (copies of the frames just before its primary ones)."""
        return self._redundancy

    @redundancy.setter
    def redundancy(self, frames: int) -> None:
        if not 0 <= frames <= MAX_REDUNDANT:
            raise ValueError(f"redundancy must be in 0..{MAX_REDUNDANT} frames")
        self._redundancy = frames

    def push(self, frame: bytes, quiet: bool = False) -> list[bytes]:
        """Add one codec frame. ``quiet`` marks a low-energy frame (the receiver may drop or
        stretch quiet packets to follow clock drift)."""
        self._pending.append(bytes(frame))
        self._quiet = self._quiet and quiet
        if len(self._pending) < self.config.frames_per_packet:
            return []
        return [self._build()]

    def flush(self) -> list[bytes]:
        """Send what is pending as a short packet (end of a stream); resets parity grouping."""
        if not self._pending:
            return []
        short = len(self._pending) < self.config.frames_per_packet
        packet = self._build()
        if short:
            self._group = []
        return [packet]

    def adapt(self, report: ReceiverReport, receivers: int = 1) -> int:
        """Set the redundancy from a receiver report (see :func:`redundancy_for`); returns it.

        It never drops below the configured redundancy: a loss burst right after a calm
        spell must still be covered, and the configured amount is the price already agreed.
        With ``receivers`` listeners, whose reports arrive in turn (one a second each; a report
        does not say who sent it), it covers the worst of the last ``receivers`` reports, so
        one clean listener cannot talk the protection of a lossy one away.
        """
        target = redundancy_for(report, self._redundancy, self.config.frames_per_packet,
                                floor=self.config.redundancy)
        self._targets = (self._targets + [target])[-max(1, receivers):]
        self.redundancy = max(self._targets)
        return self._redundancy

    def _build(self) -> bytes:
        frames, first_ts = self._pending, self._next_ts
        r = min(self._redundancy, len(self._history))
        packet = Packet(payload_type=self.config.payload_type, seq=self._seq, timestamp=first_ts,
                        sender=self.config.sender, frames=tuple(frames),
                        redundant=tuple(self._history)[len(self._history) - r:],
                        parity=self._parity, quiet=self._quiet)
        self._parity = ()
        self._history.extend(frames)
        self._seq = (self._seq + 1) % SEQ_MOD
        self._next_ts = (self._next_ts + len(frames)) % TS_MOD
        if self.config.parity_packets:
            self._add_to_group(first_ts, frames)
        self._pending, self._quiet = [], True
        return packet.to_bytes()

    def _add_to_group(self, first_ts: int, frames: list[bytes]) -> None:
        """Collect full packets; after ``parity_packets`` of them, queue one block per frame
        position (column) so a whole lost packet is rebuilt, one frame from each block."""
        if not self._group:
            self._group_start = first_ts
        self._group.extend(frames)
        n, g = self.config.frames_per_packet, self.config.parity_packets
        if len(self._group) == n * g:
            self._parity = tuple(make_parity(self._group_start + j, n, self._group[j::n])
                                 for j in range(n))
            self._group = []


def redundancy_for(report: ReceiverReport, current: int, frames_per_packet: int,
                   floor: int = 2, ceiling: int = MAX_REDUNDANT) -> int:
    """Redundancy (frames) a sender should use after ``report``.

    Cover the longest burst of lost packets the receiver saw; step up when frames were
    still concealed; step down by one frame per clean report, never below ``floor``.
    """
    needed = report.max_burst * frames_per_packet
    if report.residual_loss > 0:
        target = max(needed, current + frames_per_packet)
    elif report.loss_fraction == 0 and report.max_burst == 0:
        target = current - 1
    else:
        target = max(needed, current - 1)
    return max(floor, min(ceiling, target))
