"""Receiver side: an adaptive jitter buffer driven by the caller's clock.

``push(packet, arrival)`` for every datagram, ``pop(now)`` once per frame period. ``pop``
returns ``None`` until playout starts, then always a frame payload or :data:`MISSING`
(the decoder conceals). Frames come out in strictly increasing timestamp order.

Playout delay is steered towards a target (a high percentile of the observed queueing
delay, see :mod:`transport.delay`) by dropping a frame (playout jumps one frame ahead) or
inserting one (``MISSING`` without advancing). Where possible this happens on a missing
frame (free) or a frame the sender marked quiet; only far from target is it forced. The
same mechanism absorbs clock drift between sender and receiver.
"""
from __future__ import annotations

from dataclasses import dataclass

from transport.delay import DelayEstimator
from transport.packet import SEQ_MOD, TS_MOD, Packet, ParityBlock, parse_packet
from transport.parity import recover
from transport.queuedelay import QueueDelayEstimator
from transport.report import ReceiverReport

HISTORY_FRAMES = 1024  # frames kept after playout so parity can still use them
_SEEN_PACKETS = 4096  # sequence numbers remembered for duplicate detection
_RESYNC_STREAK = 3  # consecutive far-away packets that mean the stream jumped
# A sequence number this far from the newest, with a timestamp that did not jump, is no
# reordering: ignored once, and after _RESYNC_STREAK in a row the loss count starts over
# (instead of counting the jump as tens of thousands of lost packets).
_SEQ_JUMP = 500
_PRIMARY, _REDUNDANCY, _PARITY = 0, 1, 2
_OPEN = 1 << 62  # the end of a pause that has not ended yet
_MAX_PAUSES = 64  # keep-alives kept ahead of the playout point (a hostile sender could send more)


class _Missing:
    """Type of :data:`MISSING`: falsy, a singleton."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


@dataclass(frozen=True)
class Comfort:
    """What :meth:`JitterBuffer.pop` returns for a frame of a sender's pause (DTX): play
    comfort noise at ``level_db`` dBov (a negative number; -127 is digital silence)."""

    level_db: int


@dataclass
class JitterBufferConfig:
    """Delays in milliseconds. ``percentile`` of waiting time is the target; ``forget`` is
    the per-frame forgetting factor of its histogram. Beyond ``force_ms`` off target, or
    once per ``patience_ms`` spent off target, the buffer adjusts even without a quiet
    frame. A timestamp jump beyond ``resync_ms`` (in a few packets in a row) restarts."""

    frame_ms: float = 20.0
    min_delay_ms: float = 20.0
    max_delay_ms: float = 200.0
    initial_delay_ms: float = 60.0
    percentile: float = 0.99
    forget: float = 0.998
    base_window_s: float = 4.0
    force_ms: float = 60.0
    patience_ms: float = 5000.0
    resync_ms: float = 5000.0

    def __post_init__(self) -> None:
        if self.frame_ms <= 0:
            raise ValueError("frame_ms must be positive")
        if not 0 <= self.min_delay_ms <= self.max_delay_ms:
            raise ValueError("need 0 <= min_delay_ms <= max_delay_ms")
        if not self.min_delay_ms <= self.initial_delay_ms <= self.max_delay_ms:
            raise ValueError("initial_delay_ms must lie within [min_delay_ms, max_delay_ms]")
        if not 0.5 <= self.percentile < 1.0 or not 0.0 < self.forget < 1.0:
            raise ValueError("percentile must be in [0.5, 1) and forget in (0, 1)")
        if self.base_window_s <= 0 or self.force_ms < self.frame_ms or self.patience_ms <= 0:
            raise ValueError("base_window_s and patience_ms must be positive, force_ms >= frame_ms")
        if self.resync_ms <= 2 * self.max_delay_ms:
            raise ValueError("resync_ms must exceed twice max_delay_ms")


@dataclass
class JitterStats:
    """Counters since creation; delays in milliseconds."""

    packets_received: int = 0
    packets_duplicate: int = 0
    packets_late: int = 0
    packets_lost: int = 0
    frames_played: int = 0  # payloads returned (including recovered ones)
    frames_recovered_redundancy: int = 0
    frames_recovered_parity: int = 0
    frames_concealed: int = 0  # MISSING because the frame never came in time
    frames_comfort: int = 0  # Comfort: the sender was in a pause (DTX)
    keepalives: int = 0  # DTX keep-alive packets received
    frames_inserted: int = 0  # MISSING on purpose, to grow the delay
    frames_dropped: int = 0  # timeline frames skipped to shrink the delay
    underruns: int = 0  # pops that found nothing at all buffered (also counted inserted)
    concealment_bursts: int = 0
    max_missing_run: int = 0
    resyncs: int = 0
    target_delay_ms: float = 0.0
    current_delay_ms: float = 0.0  # playout delay above the fastest recent packet
    playout_delay_mean_ms: float = 0.0  # mean time played frames waited in the buffer
    jitter_ms: float = 0.0


@dataclass
class _Slot:
    payload: bytes
    origin: int
    arrival: float
    quiet: bool


def _unwrap(value: int, reference: int, modulus: int) -> int:
    """The integer congruent to ``value`` mod ``modulus`` nearest to ``reference``."""
    delta = (value - reference) % modulus
    if delta >= modulus // 2:
        delta -= modulus
    return reference + delta


class JitterBuffer:
    """One incoming stream (the caller demultiplexes by sender id)."""

    def __init__(self, config: JitterBufferConfig | None = None) -> None:
        self.config = config or JitterBufferConfig()
        self._fs = self.config.frame_ms / 1000.0
        self._stats = JitterStats()
        self._lost_before = 0  # packets lost in earlier epochs (before a resync)
        self._delay_sum, self._delay_count = 0.0, 0
        self._prev: tuple[int, int, int, int, int, float, int] = (0, 0, 0, 0, 0, 0.0, 0)
        self._interval_burst = 0
        self._reset()

    def _reset(self) -> None:
        c = self.config
        self._estimator = DelayEstimator(c.percentile, c.forget, c.base_window_s,
                                         c.initial_delay_ms / 1000, c.max_delay_ms / 1000)
        self._queue = QueueDelayEstimator(c.frame_ms)  # for the sender's reports, not for playout
        self._frames: dict[int, _Slot] = {}
        self._history: dict[int, bytes] = {}
        self._parity: list[tuple[list[int], ParityBlock]] = []
        self._seen: set[int] = set()
        self._first_seq: int | None = None
        self._high_seq = 0
        self._epoch_received = 0
        self._ts_ref: int | None = None
        self._far_streak = 0
        self._seq_far_streak = 0
        self._started = False
        self._next_ts = 0
        self._anchor_ts = 0
        self._rebuffering = False
        self._missing_run = 0
        self._last_quiet = False
        self._off_direction, self._off_since = 0, 0.0
        self._pauses: dict[int, int] = {}  # keep-alive timestamp -> level (-dBov), not yet reached
        self._comfort: int | None = None  # level while playing a pause
        self._last_real = -(1 << 62)  # timestamp of the last frame played from a payload
        # Frames of the latest pause [start, end): the sender held them back, so their copies
        # in the first packets after it are late by design and say nothing about the network.
        self._held: tuple[int, int] | None = None

    # ---------------------------------------------------------------- push
    def push(self, packet: bytes | Packet, arrival: float) -> bool:
        """Account one datagram (raw bytes or parsed); False when it brought nothing new (a
        duplicate, or one far from the stream while a resync is pending). Malformed bytes
        raise PacketError."""
        if not isinstance(packet, Packet):
            packet = parse_packet(packet)
        ts = packet.timestamp
        if self._ts_ref is not None:
            ts = _unwrap(ts, self._ts_ref, TS_MOD)
        anchor = self._next_ts if self._started else self._ts_ref
        if anchor is not None and abs(ts - anchor) * self.config.frame_ms > self.config.resync_ms:
            self._far_streak += 1
            if self._far_streak < _RESYNC_STREAK:
                return False
            self._resync(ts)
        self._far_streak = 0
        if not self._count_packet(packet.seq):
            return False
        self._ts_ref = ts if self._ts_ref is None else max(self._ts_ref, ts)
        self._estimator.packet(arrival, ts * self._fs)
        self._queue.packet(arrival, packet.timestamp, len(packet.frames))
        if not self._started or self._rebuffering:
            self._next_ts = ts if not self._frames else min(self._next_ts, ts)
            self._anchor_ts = self._next_ts
        elif ts + len(packet.frames) <= self._next_ts and not packet.keepalive:
            self._stats.packets_late += 1
        if packet.keepalive:
            self._stats.keepalives += 1
            if ts > self._last_real and len(self._pauses) < _MAX_PAUSES:
                self._pauses[ts] = packet.level
            if self._held is None or self._held[1] <= ts and self._held[1] != _OPEN:
                self._held = (ts, _OPEN)
        elif self._held is not None and self._held[1] == _OPEN and ts > self._held[0]:
            self._held = (self._held[0], ts)
        first = ts - len(packet.redundant)
        for i, (_, payload, primary) in enumerate(packet.items()):
            self._store(first + i, payload, _PRIMARY if primary else _REDUNDANCY, arrival,
                        packet.quiet and primary)
        for block in packet.parity:
            start = ts - (packet.timestamp - block.start) % TS_MOD
            covered = [start + k * block.stride for k in range(block.count)]
            if covered[-1] < self._next_ts - HISTORY_FRAMES:
                continue
            self._parity.append((covered, block))
            found = recover(block, covered, self._known)
            if found is not None:  # rebuild now: the delay estimate learns when parity helps
                self._store(found[0], found[1], _PARITY, arrival, False)
        return True

    def _count_packet(self, seq: int) -> bool:
        """Sequence bookkeeping; False for a duplicate or a sequence jump not (yet) believed."""
        if self._first_seq is None:
            self._first_seq = self._high_seq = seq
        ext = _unwrap(seq, self._high_seq, SEQ_MOD)
        if abs(ext - self._high_seq) > _SEQ_JUMP:
            self._seq_far_streak += 1
            if self._seq_far_streak < _RESYNC_STREAK:
                return False
            self._lost_before += self._epoch_lost()
            self._first_seq = self._high_seq = ext
            self._seen, self._epoch_received = set(), 0
        self._seq_far_streak = 0
        if ext in self._seen:
            self._stats.packets_duplicate += 1
            return False
        self._seen.add(ext)
        if len(self._seen) > 2 * _SEEN_PACKETS:
            self._seen = {s for s in self._seen if s > self._high_seq - _SEEN_PACKETS}
        self._epoch_received += 1
        self._stats.packets_received += 1
        if ext > self._high_seq:
            self._interval_burst = max(self._interval_burst, ext - self._high_seq - 1)
            self._high_seq = ext
        self._first_seq = min(self._first_seq, ext)
        return True

    def _store(self, ts: int, payload: bytes, origin: int, arrival: float, quiet: bool) -> None:
        if self._started and not self._rebuffering and ts < self._next_ts:
            if ts >= self._next_ts - HISTORY_FRAMES and ts not in self._history:
                # Too late to play (the target learns from it), still useful to parity.
                self._history[ts] = payload
                self._sample(ts, arrival)
            return
        slot = self._frames.get(ts)
        if slot is None:
            self._frames[ts] = _Slot(payload, origin, arrival, quiet)
            self._sample(ts, arrival)
        elif origin == _PRIMARY and slot.origin != _PRIMARY:
            slot.origin, slot.quiet = _PRIMARY, quiet

    def _sample(self, ts: int, arrival: float) -> None:
        # Copies of frames from before the stream (re)started, or held back in a pause,
        # arrive "late" by design: they say nothing about the network.
        held = self._held is not None and self._held[0] <= ts < self._held[1]
        if ts >= self._anchor_ts and not held:
            self._estimator.frame(arrival, ts * self._fs)

    def _resync(self, ts: int) -> None:
        """The sender's timeline jumped: forget the old stream, keep playing (MISSING) while
        the new one buffers up to the initial delay."""
        started = self._started
        self._lost_before += self._epoch_lost()
        self._reset()
        self._stats.resyncs += 1
        if started:  # keep returning MISSING (never None) while the new stream buffers
            self._started = self._rebuffering = True
            self._next_ts = self._anchor_ts = ts

    def _epoch_lost(self) -> int:
        if self._first_seq is None:
            return 0
        return max(0, self._high_seq - self._first_seq + 1 - self._epoch_received)

    # ----------------------------------------------------------------- pop
    def pop(self, now: float) -> bytes | _Missing | Comfort | None:
        """The next frame to play at ``now``: payload, :data:`MISSING`, :class:`Comfort` (the
        sender is in a pause), or ``None`` before playout has started."""
        if not self._started or self._rebuffering:
            # Start once the first frame has waited the initial delay above the fastest one.
            if not self._estimator.ready or (now - self._next_ts * self._fs - self._estimator.base
                                             < self.config.initial_delay_ms / 1000):
                if not self._started:
                    return None
                self._stats.frames_inserted += 1  # re-buffering after a resync
                return self._missing()
            self._started, self._rebuffering = True, False
            self._frames = {t: s for t, s in self._frames.items() if t >= self._next_ts}
            # Keep-alives before the first frame belong to a pause that frame ended (joined while
            # the sender was silent): kept, they would turn the first frame missing into noise.
            self._pauses = {t: level for t, level in self._pauses.items() if t >= self._next_ts}
        error = self._delay_error(now)
        fs, force = self._fs, self.config.force_ms / 1000
        slot = self._take(self._next_ts)
        if slot is None and self._in_pause():
            return self._pause_frame(error)
        underrun = slot is None and not any(ts > self._next_ts for ts in self._frames)
        if underrun and error < fs:
            # Nothing to play at all: the frame is probably late, not lost. Waiting a frame
            # costs nothing (MISSING either way) and grows the delay, as NetEQ's expand
            # does; bounded, so a long outage doesn't leave a long delay behind.
            self._stats.frames_inserted += 1
            self._stats.underruns += 1
            return self._missing()
        direction = 1 if error >= fs else -1 if error < -fs / 2 else 0
        if direction != self._off_direction:
            self._off_direction, self._off_since = direction, now
        # Off target without a quiet frame for a while: adjust anyway, once per patience.
        impatient = now - self._off_since >= self.config.patience_ms / 1000
        if direction > 0 and (slot is None or slot.quiet or error >= force or impatient):
            self._stats.frames_dropped += 1
            self._off_since = now
            self._advance(slot)
            slot = self._take(self._next_ts)
        elif direction < 0 and (slot is None or self._last_quiet or error <= -force or impatient):
            self._stats.frames_inserted += 1
            self._off_since = now
            return self._missing()
        self._advance(slot)
        if slot is None:
            self._stats.frames_concealed += 1
            return self._missing()
        self._stats.frames_played += 1
        if slot.origin == _REDUNDANCY:
            self._stats.frames_recovered_redundancy += 1
        elif slot.origin == _PARITY:
            self._stats.frames_recovered_parity += 1
        if slot.origin != _PARITY:  # a rebuilt frame has no arrival time of its own
            self._delay_sum += now - slot.arrival
            self._delay_count += 1
        self._missing_run = 0
        self._last_quiet = slot.quiet
        self._comfort, self._last_real = None, self._next_ts - 1
        return slot.payload

    def _in_pause(self) -> bool:
        """Whether the frame due now belongs to a sender's pause: a keep-alive at or before it
        and no frame since (a real frame ends the pause)."""
        if self._pauses:
            reached = [ts for ts in self._pauses if ts <= self._next_ts]
            if reached:
                self._comfort = self._pauses[max(reached)]
                for ts in reached:
                    del self._pauses[ts]
        return self._comfort is not None

    def _pause_frame(self, error: float) -> Comfort:
        """Comfort noise; the delay moves to its target for free in a pause (NetEQ's way)."""
        assert self._comfort is not None
        fs = self._fs
        if error < -fs / 2:
            self._stats.frames_inserted += 1
        else:
            if error >= fs and self._next_ts + 1 not in self._frames:
                self._stats.frames_dropped += 1
                self._advance(None)
            self._advance(None)
        self._stats.frames_comfort += 1
        self._missing_run = 0
        self._last_quiet = True
        return Comfort(-self._comfort)

    def _delay_error(self, now: float) -> float:
        """Current playout delay above the base minus the (clamped) target, in seconds."""
        if not self._estimator.ready:
            return 0.0
        current = now - self._next_ts * self._fs - self._estimator.base
        self._stats.current_delay_ms = current * 1000
        return current - self._target()

    def _target(self) -> float:
        c = self.config
        return min(c.max_delay_ms, max(c.min_delay_ms, self._estimator.target * 1000)) / 1000

    def _take(self, ts: int) -> _Slot | None:
        """The slot for ``ts``, rebuilt from parity if needed (and possible)."""
        slot = self._frames.get(ts)
        if slot is None:
            for covered, block in self._parity:
                if covered[0] <= ts <= covered[-1] and ts in covered:
                    found = recover(block, covered, self._known)
                    if found is not None and found[0] == ts:
                        slot = self._frames[ts] = _Slot(found[1], _PARITY, 0.0, False)
                        break
        return slot

    def _known(self, ts: int) -> bytes | None:
        slot = self._frames.get(ts)
        return slot.payload if slot is not None else self._history.get(ts)

    def _advance(self, slot: _Slot | None) -> None:
        """Move the playout point past ``_next_ts`` and prune what is now too old."""
        ts = self._next_ts
        if slot is not None:
            del self._frames[ts]
            self._history[ts] = slot.payload
        self._next_ts = ts + 1
        self._history.pop(ts - HISTORY_FRAMES, None)
        if len(self._history) > 2 * HISTORY_FRAMES:
            self._history = {t: p for t, p in self._history.items() if t >= ts - HISTORY_FRAMES}
        if self._parity and self._parity[0][0][-1] < self._next_ts:
            self._parity = [entry for entry in self._parity if entry[0][-1] >= self._next_ts]

    def _missing(self) -> _Missing:
        if self._missing_run == 0:
            self._stats.concealment_bursts += 1
        self._missing_run += 1
        self._stats.max_missing_run = max(self._stats.max_missing_run, self._missing_run)
        return MISSING

    # --------------------------------------------------------------- stats
    @property
    def missing_run(self) -> int:
        """Consecutive MISSING frames returned so far (0 after a real frame): lets a concealer
        fade out after ~120 ms."""
        return self._missing_run

    @property
    def playout_timestamp(self) -> int:
        """Unwrapped timestamp of the next frame ``pop`` will consider."""
        return self._next_ts

    @property
    def stats(self) -> JitterStats:
        """A snapshot of the counters, with the derived delay fields filled in."""
        s = JitterStats(**vars(self._stats))
        s.packets_lost = self._lost_before + self._epoch_lost()
        s.target_delay_ms = self._target() * 1000
        s.playout_delay_mean_ms = 1000 * self._delay_sum / max(1, self._delay_count)
        s.jitter_ms = self._estimator.jitter * 1000
        return s

    def report(self, sender: int) -> ReceiverReport:
        """A receiver report covering the time since the previous call."""
        s = self.stats
        expected = s.packets_received + s.packets_lost
        now = (expected, s.packets_lost, s.frames_played, s.frames_concealed,
               s.frames_recovered_redundancy + s.frames_recovered_parity,
               self._delay_sum, self._delay_count)
        d = [a - b for a, b in zip(now, self._prev)]
        self._prev, burst, self._interval_burst = now, self._interval_burst, 0
        queue = self._queue.report()
        return ReceiverReport(
            sender=sender, highest_seq=self._high_seq % SEQ_MOD,
            loss_fraction=min(1.0, max(0.0, d[1] / d[0])) if d[0] > 0 else 0.0,
            residual_loss=d[3] / (d[2] + d[3]) if d[2] + d[3] > 0 else 0.0,
            max_burst=burst, jitter_ms=s.jitter_ms,
            playout_delay_ms=1000 * d[5] / d[6] if d[6] else 0.0,
            target_delay_ms=s.target_delay_ms, recovered=int(d[4]),
            concealed_total=s.frames_concealed, lost_total=s.packets_lost,
            queue_delay_ms=None if queue is None else queue.mean_ms,
            delay_trend=None if queue is None else queue.trend)
