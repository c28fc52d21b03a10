"""Which receiver reports the server believes.

A report is accepted only from a member the server relays the reported sender to, at most
``rate`` a second per (receiver, sender), and only with values that could have happened:

- its highest sequence number lies between the first packet relayed to that receiver and the
  newest one relayed at all;
- packets newly counted lost are at most the packets its highest sequence number advanced by;
  frames concealed and recovered at most the frames that could be played in the time since
  its previous report (x1.25, plus 10); cumulative counters never go backwards (such a
  report is dropped and the next one measured from it);
- its longest loss burst is at most the packets its highest sequence number advanced by (a
  gap is counted when a packet beyond it arrives); jitter and delays at most 2 s.

Rejected reports are counted by reason and go nowhere: neither into the metrics nor to the
sender, whose redundancy they would steer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable

from server.ratelimit import TokenBucket
from server.sender import SenderState
from transport.report import ReceiverReport

SLACK_PACKETS = 8      # reordering around a report
SLACK_FRAMES = 10
PLAY_RATE_MARGIN = 1.25  # a receiver may play a little faster than real time while it catches up
MAX_DELAY_MS = 2000.0    # beyond any jitter buffer here (200 ms Python, 300 ms page)


@dataclass
class _Stream:
    bucket: TokenBucket
    time: float             # of the previous report (or of the first packet relayed)
    highest: int            # unwrapped highest sequence number it reported
    concealed: int = 0
    lost: int = 0


class ReportGate:
    """Keeps the per-stream state the checks need."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._streams: dict[tuple[Hashable, Hashable], _Stream] = {}

    def check(self, receiver: Hashable, sender: Hashable, state: SenderState, report: ReceiverReport,
              now: float) -> str | None:
        """None if ``report`` (from ``receiver`` about ``sender``) is believable, else why not."""
        first = state.receivers.get(receiver)
        if first is None or state.high_seq is None:
            return "not-receiving"
        key = (receiver, sender)
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = _Stream(TokenBucket(self.rate, max(2.0, self.rate), first[0]),
                                                  first[0], first[1] - 1)
        if not stream.bucket.take(now):
            return "rate"
        highest = state.unwrap(report.highest_seq)
        if not first[1] - SLACK_PACKETS <= highest <= state.high_seq:
            return "sequence"
        if report.concealed_total < stream.concealed or report.lost_total < stream.lost:
            # A restarted receiver stream, or a lie: believe nothing of it, but measure the next
            # report from here (each report's increase is bounded by the time since this one).
            stream.time, stream.concealed, stream.lost = now, report.concealed_total, report.lost_total
            return "went-backwards"
        frames = (max(0.0, now - stream.time) * 1000 / state.facts.frame_ms) * PLAY_RATE_MARGIN + SLACK_FRAMES
        if report.concealed_total - stream.concealed > frames or report.recovered > frames:
            return "frames"
        if report.lost_total - stream.lost > max(0, highest - stream.highest) + SLACK_PACKETS:
            return "lost"
        if report.max_burst > max(0, highest - stream.highest) + SLACK_PACKETS:
            return "burst"
        if max(report.jitter_ms, report.playout_delay_ms, report.target_delay_ms) > MAX_DELAY_MS:
            return "delay"
        stream.time, stream.concealed, stream.lost = now, report.concealed_total, report.lost_total
        stream.highest = max(stream.highest, highest)
        return None

    def forget(self, participant: Hashable) -> None:
        """Drop the streams a participant who left was part of."""
        for key in [k for k in self._streams if participant in k]:
            del self._streams[key]

    def __len__(self) -> int:
        return len(self._streams)
