"""One remote sender's stream at this receiver: jitter buffer → decoder → audio.

Two halves with one owner each: :meth:`RemoteStream.push` and :meth:`RemoteStream.due`
run on the event loop (packets in, one playout decision per frame period);
:meth:`RemoteStream.decode` runs on the decode thread and is the only code touching the
decoder and the decoded audio. The clock is passed in, so tests drive it by hand.

Whatever a sender puts in its packets, memory and recordings stay bounded by the call's
length: a timestamp jump (a restarted sender, or a hostile one) starts a new *epoch* of the
timestamp-aligned track instead of stretching it across the gap, and the aligned track never
holds more frames than were played plus those the jitter buffer skipped.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codec.base import Codec, CodecError
from codec.comfort import ComfortNoise
from codec.payload_types import decoder_codec_name
from codec.registry import get_codec
from codec.resample import resample
from transport import MISSING, Comfort, JitterBuffer, JitterBufferConfig, JitterStats, Packet
from transport.packet import MAX_REDUNDANT

OUTPUT_RATE = 16000
# A live playout clock wakes up a few milliseconds late now and then (event loop, GC, a
# busy core), and packets jitter: keep this much delay above one packet interval.
LIVE_MARGIN_MS = 20.0
# A sender of large packets (a narrow link) also has slow ones: room above the floor to follow them.
LARGE_PACKET_HEADROOM_MS = 160.0
# A sender silent this long past the deepest buffering has stopped (left, muted, or the
# network is down): stop playing and reporting it, so its silence is not counted as loss.
IDLE_AFTER_S = 1.0


@dataclass(frozen=True)
class Playout:
    """One frame period's decision: the payload to decode (``None``: conceal), the media
    timestamp it belongs to (``None`` for a frame inserted to grow the delay) and the epoch
    of that timestamp (it changes when the sender's timeline jumps). ``comfort_db`` set: the
    sender is in a pause (DTX), play comfort noise at that level."""

    payload: bytes | None
    timestamp: int | None
    epoch: int = 0
    comfort_db: float | None = None


class _Epoch:
    """One continuous stretch of the sender's timeline, as decoded here."""

    def __init__(self, first: int) -> None:
        self.first = first                       # timestamp of its first frame
        self.frames: dict[int, np.ndarray] = {}  # timestamp -> decoded frame
        self.from_payload: set[int] = set()      # timestamps decoded from a real payload
        self.comfort: set[int] = set()           # timestamps played as comfort noise (a pause)
        self.last: int | None = None             # of the last frame decoded from a payload

    @property
    def span(self) -> range:
        """From its first frame to the last one decoded from a payload (concealment after
        the sender stopped is not part of what it sent)."""
        return range(self.first, self.last + 1) if self.last is not None else range(0)


class RemoteStream:
    """A sender's audio as heard here, kept two ways: as played (the receiver's timeline,
    for mixing and the speaker) and by media timestamp (aligned with what was sent)."""

    def __init__(self, sender_id: int, name: str, first_packet: Packet,
                 buffer: JitterBufferConfig | None = None) -> None:
        self.sender_id, self.name = sender_id, name
        self.payload_type = first_packet.payload_type
        self.codec: Codec = get_codec(decoder_codec_name(self.payload_type))
        period_ms = self.codec.frame_ms
        # Never plan on less delay than one packet interval plus a margin: then a packet lost
        # on an otherwise calm link is rebuilt from the next one's redundancy in time, instead
        # of costing frames until the buffer has learnt that losses happen.
        floor_ms = max(1, len(first_packet.frames)) * period_ms + LIVE_MARGIN_MS
        self.buffer = JitterBuffer(buffer or JitterBufferConfig(
            frame_ms=period_ms, min_delay_ms=floor_ms, initial_delay_ms=max(60.0, floor_ms),
            max_delay_ms=max(JitterBufferConfig.max_delay_ms, floor_ms + LARGE_PACKET_HEADROOM_MS)))
        self.period = period_ms / 1000
        self.playout_start: float | None = None  # receiver clock time of the first played frame
        self.undecodable = 0
        self._next_pop: float | None = None
        self._last_arrival: float | None = None
        self._idle_after = IDLE_AFTER_S + self.buffer.config.max_delay_ms / 1000
        self._decoder = self.codec.decoder()
        self._comfort = ComfortNoise(seed=sender_id)
        self._played: list[np.ndarray] = []
        self._epoch = 0  # event loop: the epoch of the playout timestamps handed out
        self._last_playout: int | None = None  # the jitter buffer's playout point after the last pop
        self._epochs: list[_Epoch] = []  # decode thread: the aligned track, epoch by epoch
        self._first_timestamp: int | None = None  # of the stream's first frame, from its first packet

    # ------------------------------------------------------------- event loop
    def push(self, packet: Packet, arrival: float) -> None:
        """Hand a parsed packet of this sender (the first one too) to the jitter buffer."""
        if self._first_timestamp is None:
            self._first_timestamp = packet.timestamp - len(packet.redundant)
        if self._next_pop is None:  # first packet, or back from idle
            # Pop half a period out of phase with arrivals, so a pop never races a packet.
            self._next_pop = arrival + self.period / 2
        if self.buffer.push(packet, arrival):  # a duplicate does not keep an ended stream alive
            self._last_arrival = arrival

    def due(self, now: float) -> list[Playout]:
        """The playout decisions of every frame period that has begun by ``now``."""
        out = []
        if self._last_arrival is not None and now - self._last_arrival > self._idle_after:
            self._next_pop = None  # the sender stopped: pause until its next packet
        while self._next_pop is not None and self._next_pop <= now:
            # Decide at the period's own time: a late wake-up must not look like extra delay.
            scheduled, self._next_pop = self._next_pop, self._next_pop + self.period
            before = self.buffer.playout_timestamp
            frame = self.buffer.pop(scheduled)
            if frame is None:
                continue  # still filling up to the initial delay
            if self.playout_start is None:
                self.playout_start = scheduled
            after = self.buffer.playout_timestamp
            last, self._last_playout = self._last_playout, after
            if last is not None and not 0 <= after - last <= 2:  # 1 frame, 2 when one is skipped: else a resync
                self._epoch += 1
            ts = after - 1 if after != before else None
            if isinstance(frame, Comfort):
                out.append(Playout(None, ts, self._epoch, float(frame.level_db)))
            else:
                out.append(Playout(None if frame is MISSING else frame, ts, self._epoch))
        return out

    @property
    def idle(self) -> bool:
        """Packets stopped coming: playout and reports are paused until they resume."""
        return self._next_pop is None

    @property
    def next_due(self) -> float | None:
        """Receiver clock time of the next playout decision (``None`` before any packet)."""
        return self._next_pop

    @property
    def stats(self) -> JitterStats:
        """The jitter buffer's counters."""
        return self.buffer.stats

    # ----------------------------------------------------------- decode thread
    def decode(self, playout: Playout) -> np.ndarray:
        """Decode (or conceal, or play comfort noise for) one frame and record it; returns the
        codec-rate PCM."""
        try:
            pcm = self._decoder.decode(playout.payload)  # in a pause: conceal, fading out
        except CodecError:
            self.undecodable += 1
            pcm = self._decoder.decode(None)
        if playout.comfort_db is not None:
            pcm = self._comfort.frame(len(pcm), playout.comfort_db)
        self._played.append(pcm)
        if playout.timestamp is not None:
            while len(self._epochs) <= playout.epoch:
                first = self._first_timestamp if not self._epochs and self._first_timestamp is not None \
                    else playout.timestamp
                self._epochs.append(_Epoch(min(first, playout.timestamp)))
            epoch = self._epochs[playout.epoch]
            epoch.frames[playout.timestamp] = pcm
            if playout.comfort_db is not None:
                epoch.comfort.add(playout.timestamp)
            if playout.payload is not None:
                epoch.last = playout.timestamp
                epoch.from_payload.add(playout.timestamp)
        return pcm

    def _aligned_spans(self) -> list[tuple[_Epoch, range]]:
        """Each epoch's span, cut so that together they hold no more frames than were played,
        skipped by the jitter buffer, or sent as redundancy before the first one."""
        budget = len(self._played) + self.buffer.stats.frames_dropped + MAX_REDUNDANT
        out = []
        for epoch in self._epochs:
            span = epoch.span
            if len(span) > budget:
                span = range(span.start, span.start + budget)
            budget -= len(span)
            if span:
                out.append((epoch, span))
        return out

    def _spans(self, span: range | None) -> list[tuple[_Epoch, range]]:
        """The aligned spans, or the caller's ``span`` looked up over all epochs (offline use)."""
        if span is None:
            return self._aligned_spans()
        merged = _Epoch(span.start)
        for epoch in self._epochs:
            merged.frames.update(epoch.frames)
            merged.from_payload |= epoch.from_payload
            merged.comfort |= epoch.comfort
        return [(merged, span)]

    def unplayed_frames(self, span: range | None = None) -> int:
        """Frames of ``span`` (default: all the sender sent) that were not played: dropped by
        the jitter buffer to shrink its delay (or lost and skipped while doing so)."""
        return sum(1 for epoch, part in self._spans(span) for ts in part if ts not in epoch.frames)

    def concealed_frames(self, span: range | None = None) -> int:
        """Frames of ``span`` (default: all the sender sent) played by concealment: lost for good."""
        return sum(1 for epoch, part in self._spans(span) for ts in part
                   if ts in epoch.frames and ts not in epoch.from_payload and ts not in epoch.comfort)

    def comfort_frames(self, span: range | None = None) -> int:
        """Frames of ``span`` (default: all the sender sent) played as comfort noise (DTX)."""
        return sum(1 for epoch, part in self._spans(span) for ts in part if ts in epoch.comfort)

    def aligned_audio(self, span: range | None = None) -> np.ndarray:
        """16 kHz audio placed by media timestamp, codec delay removed: time-aligned with what
        the sender sent (frames not played are silence). After a timeline jump the next
        epoch follows directly, without the gap. ``span`` picks timestamps instead."""
        spans, n = self._spans(span), self.codec.frame_samples
        pcm = np.zeros(sum(len(span) for _, span in spans) * n, dtype=np.float32)
        k = 0
        for epoch, span in spans:
            for ts in span:
                frame = epoch.frames.get(ts)
                if frame is not None:
                    pcm[k * n:(k + 1) * n] = frame
                k += 1
        return self._to_output(pcm)

    def played_audio(self) -> np.ndarray:
        """16 kHz audio as played here, from :attr:`playout_start`, codec delay removed."""
        if not self._played:
            return np.zeros(0, dtype=np.float32)
        return self._to_output(np.concatenate(self._played))

    def _to_output(self, pcm: np.ndarray) -> np.ndarray:
        return resample(pcm[self.codec.delay_samples:], self.codec.sample_rate, OUTPUT_RATE).astype(np.float32)
