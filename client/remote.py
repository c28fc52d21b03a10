"""One remote sender's stream at this receiver: jitter buffer → decoder → audio.

Two halves with one owner each: :meth:`RemoteStream.push` and :meth:`RemoteStream.due`
run on the event loop (packets in, one playout decision per frame period);
:meth:`RemoteStream.decode` runs on the decode thread and is the only code touching the
decoder and the decoded audio. The clock is passed in, so tests drive it by hand.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codec.base import Codec, CodecError
from codec.payload_types import decoder_codec_name
from codec.registry import get_codec
from codec.resample import resample
from transport import MISSING, JitterBuffer, JitterBufferConfig, JitterStats, Packet

OUTPUT_RATE = 16000
# A live playout clock wakes up a few milliseconds late now and then (event loop, GC, a
# busy core), and packets jitter: keep this much delay above one packet interval.
LIVE_MARGIN_MS = 20.0
# A sender silent this long past the deepest buffering has stopped (left, muted, or the
# network is down): stop playing and reporting it, so its silence is not counted as loss.
IDLE_AFTER_S = 1.0


@dataclass(frozen=True)
class Playout:
    """One frame period's decision: the payload to decode (``None``: conceal) and the
    media timestamp it belongs to (``None`` for a frame inserted to grow the delay)."""

    payload: bytes | None
    timestamp: int | None


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
        floor_ms = len(first_packet.frames) * period_ms + LIVE_MARGIN_MS
        self.buffer = JitterBuffer(buffer or JitterBufferConfig(
            frame_ms=period_ms, min_delay_ms=floor_ms, initial_delay_ms=max(60.0, floor_ms)))
        self.period = period_ms / 1000
        self.playout_start: float | None = None  # receiver clock time of the first played frame
        self.undecodable = 0
        self._next_pop: float | None = None
        self._last_arrival: float | None = None
        self._idle_after = IDLE_AFTER_S + self.buffer.config.max_delay_ms / 1000
        self._decoder = self.codec.decoder()
        self._played: list[np.ndarray] = []
        self._by_timestamp: dict[int, np.ndarray] = {}
        self._first_timestamp: int | None = None  # of the stream's first frame, from its first packet
        self._last_timestamp: int | None = None   # of the last frame decoded from a real payload
        self._from_payload: set[int] = set()      # timestamps decoded from a real payload

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
            out.append(Playout(None if frame is MISSING else frame, after - 1 if after != before else None))
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
        """Decode (or conceal) one frame and record it; returns the codec-rate PCM."""
        try:
            pcm = self._decoder.decode(playout.payload)
        except CodecError:
            self.undecodable += 1
            pcm = self._decoder.decode(None)
        self._played.append(pcm)
        if playout.timestamp is not None:
            self._by_timestamp[playout.timestamp] = pcm
            if playout.payload is not None:
                self._last_timestamp = playout.timestamp
                self._from_payload.add(playout.timestamp)
        return pcm

    def _aligned_span(self) -> range:
        """Timestamps from the stream's first frame to the last one decoded from a payload
        (concealment after the sender stopped is not part of what it sent)."""
        if self._last_timestamp is None or self._first_timestamp is None:
            return range(0)
        return range(self._first_timestamp, self._last_timestamp + 1)

    def unplayed_frames(self, span: range | None = None) -> int:
        """Frames of ``span`` (default: the stream's) that were not played: dropped by the
        jitter buffer to shrink its delay (or lost and skipped while doing so)."""
        return sum(1 for ts in span or self._aligned_span() if ts not in self._by_timestamp)

    def concealed_frames(self, span: range | None = None) -> int:
        """Frames of ``span`` (default: the stream's) played by concealment: lost for good."""
        return sum(1 for ts in span or self._aligned_span()
                   if ts in self._by_timestamp and ts not in self._from_payload)

    def aligned_audio(self, span: range | None = None) -> np.ndarray:
        """16 kHz audio of the frames in ``span`` (default: the stream's) placed by media
        timestamp, codec delay removed: time-aligned with what the sender sent (frames not
        played are silence)."""
        span, n = span or self._aligned_span(), self.codec.frame_samples
        pcm = np.zeros(len(span) * n, dtype=np.float32)
        for k, ts in enumerate(span):
            frame = self._by_timestamp.get(ts)
            if frame is not None:
                pcm[k * n:(k + 1) * n] = frame
        return self._to_output(pcm)

    def played_audio(self) -> np.ndarray:
        """16 kHz audio as played here, from :attr:`playout_start`, codec delay removed."""
        if not self._played:
            return np.zeros(0, dtype=np.float32)
        return self._to_output(np.concatenate(self._played))

    def _to_output(self, pcm: np.ndarray) -> np.ndarray:
        return resample(pcm[self.codec.delay_samples:], self.codec.sample_rate, OUTPUT_RATE).astype(np.float32)
