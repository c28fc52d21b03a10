"""Sender side: group codec frames into packets with redundancy and optional parity."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from transport.packet import (MAX_LEVEL, MAX_PARITY_BLOCKS, MAX_PARITY_COUNT, MAX_PAYLOAD_TYPE,
                              MAX_REDUNDANT, MAX_SENDER, SEQ_MOD, TS_MOD, VERSION, VERSION_3, VERSIONS,
                              Packet, ParityBlock, max_primary)
from transport.parity import make_parity
from transport.report import ReceiverReport


@dataclass(frozen=True)
class DtxConfig:
    """Discontinuous transmission: after ``hangover`` frames without speech the sender stops
    sending frames and sends a keep-alive (background level) every ``keepalive`` frames; the
    first packet after the pause carries at least ``onset`` of the frames held back, so the
    start of a word the VAD was late to see is not clipped."""

    hangover: int = 10   # 200 ms of 20 ms frames
    keepalive: int = 20  # 400 ms
    onset: int = 4       # 80 ms

    def __post_init__(self) -> None:
        if self.hangover < 0 or self.keepalive < 1 or not 0 <= self.onset <= MAX_REDUNDANT:
            raise ValueError(f"need hangover >= 0, keepalive >= 1, onset in 0..{MAX_REDUNDANT}")


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
    version: int = VERSION
    dtx: DtxConfig | None = None  # needs version 3 (keep-alive packets)

    def __post_init__(self) -> None:
        if self.version not in VERSIONS:
            raise ValueError(f"version must be one of {VERSIONS}")
        if self.dtx is not None and self.version != VERSION_3:
            raise ValueError("DTX needs packet version 3")
        if not 0 <= self.payload_type <= MAX_PAYLOAD_TYPE:
            raise ValueError(f"payload_type must be in 0..{MAX_PAYLOAD_TYPE}")
        if not 0 <= self.sender <= MAX_SENDER:
            raise ValueError(f"sender must be in 0..{MAX_SENDER}")
        if not 1 <= self.frames_per_packet <= max_primary(self.version):
            raise ValueError(f"frames_per_packet must be in 1..{max_primary(self.version)}")
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
        self._frames_per_packet = config.frames_per_packet
        self.mean_frame_bytes = 0.0  # of the frames pushed, a running mean (the last ~50)
        self._targets: list[int] = []  # what the latest reports asked for, newest last
        self._seq = config.first_seq
        self._next_ts = config.first_timestamp  # timestamp of the next frame pushed
        self._pending: list[bytes] = []
        self._quiet = True
        self._history: deque[bytes] = deque(maxlen=MAX_REDUNDANT)  # frames already sent
        self._group: list[bytes] = []  # primary frames of the current parity group
        self._group_start = 0
        self._parity: tuple[ParityBlock, ...] = ()  # blocks waiting for the next packet
        self._silent_run = 0  # frames since the last one with speech
        self._dtx_frames = 0  # frames held back in the current pause
        self._in_dtx = False
        self._onset = False   # the next packet is the first after a pause
        self.frames_pushed = 0
        self.frames_held = 0  # frames not sent because of DTX
        self.keepalives = 0

    @property
    def redundancy(self) -> int:
        """Redundant frames per packet (copies of the frames just before its primary ones)."""
        return self._redundancy

    @redundancy.setter
    def redundancy(self, frames: int) -> None:
        if not 0 <= frames <= MAX_REDUNDANT:
            raise ValueError(f"redundancy must be in 0..{MAX_REDUNDANT} frames")
        self._redundancy = frames

    @property
    def frames_per_packet(self) -> int:
        """Primary frames per packet (from the next packet on; see transport.packetsize)."""
        return self._frames_per_packet

    @frames_per_packet.setter
    def frames_per_packet(self, frames: int) -> None:
        most = max_primary(self.config.version)
        if not 1 <= frames <= most:
            raise ValueError(f"frames_per_packet must be in 1..{most}")
        if self.config.parity_packets and frames > MAX_PARITY_BLOCKS:
            raise ValueError("too many frames per packet for parity")
        if frames != self._frames_per_packet:
            self._frames_per_packet, self._group = frames, []  # parity groups need one size

    @property
    def in_dtx(self) -> bool:
        """Whether the sender is in a pause (sending keep-alives, not frames)."""
        return self._in_dtx

    def push(self, frame: bytes, quiet: bool = False, speech: bool = True,
             level: int = MAX_LEVEL) -> list[bytes]:
        """Add one codec frame. ``quiet`` marks a low-energy frame (the receiver may drop or
        stretch quiet packets to follow clock drift). With DTX, ``speech`` is the VAD's verdict
        and ``level`` the background level (-dBov) a keep-alive reports."""
        self.frames_pushed += 1
        self.mean_frame_bytes += (len(frame) - self.mean_frame_bytes) / min(self.frames_pushed, 50)
        dtx = self.config.dtx
        self._silent_run = 0 if speech else self._silent_run + 1
        if dtx is not None and self._silent_run > dtx.hangover:
            return self._hold(bytes(frame), dtx, level)
        if self._in_dtx:
            self._in_dtx, self._onset = False, True
        self._pending.append(bytes(frame))
        self._quiet = self._quiet and quiet
        if len(self._pending) < self._frames_per_packet:
            return []
        return [self._build()]

    def _hold(self, frame: bytes, dtx: DtxConfig, level: int) -> list[bytes]:
        """A frame in a pause: kept for the onset's redundancy, not sent; a keep-alive at the
        pause's first frame and every ``dtx.keepalive`` frames."""
        out = self.flush() if self._pending else []
        ts = self._next_ts
        if not self._in_dtx:
            self._in_dtx, self._dtx_frames, self._group = True, 0, []
        if self._dtx_frames % dtx.keepalive == 0:
            out.append(Packet(payload_type=self.config.payload_type, seq=self._seq, timestamp=ts,
                              sender=self.config.sender, frames=(), quiet=True, version=VERSION_3,
                              level=max(0, min(MAX_LEVEL, level))).to_bytes())
            self._seq = (self._seq + 1) % SEQ_MOD
            self.keepalives += 1
        self._dtx_frames += 1
        self.frames_held += 1
        self._history.append(frame)
        self._next_ts = (ts + 1) % TS_MOD
        return out

    def flush(self) -> list[bytes]:
        """Send what is pending as a short packet (end of a stream); resets parity grouping.
        Ending in a pause, the last frame goes out, so receivers know where the stream ends."""
        if not self._pending and self._in_dtx and self._history:
            self._in_dtx = False
            self._next_ts = (self._next_ts - 1) % TS_MOD
            self._pending = [self._history.pop()]
            self.frames_held -= 1
        if not self._pending:
            return []
        short = len(self._pending) < self._frames_per_packet
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
        target = redundancy_for(report, self._redundancy, self._frames_per_packet,
                                floor=self.config.redundancy)
        self._targets = (self._targets + [target])[-max(1, receivers):]
        self.redundancy = max(self._targets)
        return self._redundancy

    def _build(self) -> bytes:
        frames, first_ts = self._pending, self._next_ts
        r = self._redundancy
        if self._onset and self.config.dtx is not None:
            r = max(r, self.config.dtx.onset)
        r = min(r, len(self._history))
        packet = Packet(payload_type=self.config.payload_type, seq=self._seq, timestamp=first_ts,
                        sender=self.config.sender, frames=tuple(frames),
                        redundant=tuple(self._history)[len(self._history) - r:],
                        parity=self._parity, quiet=self._quiet, version=self.config.version)
        self._parity, self._onset = (), False
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
        n, g = len(frames), self.config.parity_packets
        if n != self._frames_per_packet:  # a short packet (flush): no group
            self._group = []
            return
        if not self._group:
            self._group_start = first_ts
        self._group.extend(frames)
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
