"""Sender side: how many frames a packet carries (and, under a cap, how much redundancy).

Headers dominate at our bitrates (README, "Overhead"): fewer, larger packets are the strong
lever, and they cost latency (each extra frame a packet waits 20 ms more). So a sender packs
``base`` frames a packet (2: 40 ms) and packs more only when it must:

* **a cap**: its own (``max_bitrate``, bit/s on the wire, every header counted, SACKs back
  included, :class:`transport.wire.WireModel`) or the lowest a receiver asks for in its
  reports: the fewest frames per packet whose talking rate fits, keeping the redundancy the
  reports asked for; when even ``most`` frames do not fit, ``most`` with less redundancy;
* **an overloaded link**: when the loss the reports show reaches ``loss_distress`` (40 %)
  and what redundancy left unrepaired (the reports' residual loss) reaches
  ``residual_distress`` (3 %, the loss alert's threshold), each both smoothed over reports (so
  one unlucky second of random loss does not count) and in the newest report (so a past
  overload does not count again), in ``sustained_reports`` (3) reports in a row (bursty loss
  has bad seconds; an overloaded link stays overloaded), or (when set; off by
  default) a report's jitter reaches ``jitter_distress_ms``, the link's capacity is taken as
  what got through and the stream is fitted 10 % under it, as under a cap (at 40 % loss, 2
  frames become 4). One cut at most halves the rate: under overload what got through
  understates the link (the sender's SCTP association backs off, queues overflow), as TCP
  knows, and never below ``most`` frames with one packet's worth of redundancy (below that a
  lost packet is 160 ms of speech lost: the redundancy serves a lossy link better); the two
  reports after a cut are not believed for another (they count packets sent before it, and
  the queue it overflowed draining). After ``calm_reports`` clean reports that cap rises by a quarter, and goes
  when the base size fits; a link overloaded again right after a rise waits twice as long
  before the next. A cut after which the loss does not fall by a quarter (the first report
  that shows its effect) is undone: the loss is the link's own, and for ``HOLD_REPORTS``
  reports (doubling each time) loss is not taken as overload. Random loss that redundancy
  repairs costs no latency and keeps its
  protection: at 30 % random loss, 160 ms of redundancy leaves 0.4 % unrepaired, while
  cutting to 8 frames with one packet of redundancy would leave 9 %; at 20 % in bursts
  (Gilbert-Elliott 8.3 %/33.3 %, seconds of 30-40 %) 1.4 % against 5 %. A 16 kbit/s link
  offered 25 kbit/s loses 40-55 %.
* **a queue** (the narrow link loss cannot tell from a lossy one): reports of type 2 carry the
  queueing delay the receiver measured (:mod:`transport.queuedelay`: one-way delay above its
  recent minimum, and its trend). When a sender overruns a narrow link the bottleneck queue
  fills, and the delay grows well before the queue overflows; random loss does not raise it.
  A report whose queue reaches ``queue_distress_ms`` (100 ms) and is not draining (trend above
  -30 ms/s) is overuse when it grows at ``rising_trend`` (100 ms/s) or more, or in the second
  such report in a row; right after a rise (3 reports) half of both counts, the queue being the
  rise's doing. Overuse cuts as an overloaded link does (the same ``link_cap``, settling and
  calm reports), deeper: what got through less what the queue grew by, and less again for what
  stands in it (so it drains within a second or so: frames behind it are late), down to 30 %
  of the rate at once; such a cut is not judged by the loss after it (the link's random loss
  stays). A standing queue counts no report as calm, and for ``MAX_CALM_REPORTS`` reports
  (about a minute) a rise stays 5 % under the least rate that overran the link, so probing
  does not overrun it again and again. On the 16 kbit/s test link with 10 % loss the sender
  finds 4-7 frames a packet from the first report: STOI 0.68-0.70 uncapped against 0.753
  lossless (0.55-0.60 on loss alone); what remains lost is the queue built in the first second
  and one probe (BENCHMARKS.md, "Constrained link"). Reports without the figures (type 1: a
  receiver from before, or an interval without packets) leave only the loss rules.
* **a slow start** (``start``, off by default; ``focalcall join --start-frames N``): the first
  plan takes the rate of ``start`` frames a packet as the link's, and calm reports probe down
  to ``base`` as after a cut (5 reports a step: 4 frames become 2 in about 15 s on a calm
  link, each step 20 ms less latency). The first second at ``base`` is what a narrow link loses
  most (its queue fills before the first report can show it): on the test link, starting at 4
  frames, STOI 0.720-0.750 uncapped in four runs (three within 0.03) against 0.753 lossless.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from transport.packet import MAX_PRIMARY_V3
from transport.packetizer import Packetizer
from transport.report import ReceiverReport
from transport.wire import WireModel

MAX_CALM_REPORTS = 64
MAX_PACKET_MS = 160.0  # the most audio one packet may hold, whatever the frame length
LOSS_SMOOTHING = 0.3  # weight of the newest report's loss
SETTLE_REPORTS = 2  # reports after a cut not believed for another
UNDO_RATIO = 0.75  # a cut whose next believed report still shows this share of the loss is undone
HOLD_REPORTS = 10  # then loss is taken as the link's own for this many reports (doubling)
DRAINING_TREND = -30.0  # ms/s: a queue falling faster than this is draining, not overused
OVERUSE_LEAST_SHARE = 0.3  # a cut for a queue may go this low: the queue must drain before frames run late
PROBE_REPORTS = 3  # reports after a rise in which a queue is taken as the rise's doing
OVERRUN_MARGIN = 0.95  # a probe stays this far under the rate that last overran the link


@dataclass(frozen=True)
class SizeConfig:
    """The sender's packing policy (see the module docstring)."""

    frame_ms: float = 20.0
    base: int = 2
    most: int = MAX_PRIMARY_V3
    max_bitrate: float | None = None
    wire: WireModel = field(default_factory=WireModel)
    loss_distress: float = 0.4
    residual_distress: float = 0.03
    sustained_reports: int = 3  # consecutive lossy reports before loss counts as overload
    jitter_distress_ms: float | None = None  # off: on a narrow link jitter is mostly our own packets' serialization
    calm_reports: int = 5
    queue_distress_ms: float | None = 100.0  # queueing delay that, not draining, means overuse (None: off)
    rising_trend: float = 100.0  # ms of delay per s: a queue growing this fast is overuse at once
    start: int | None = None  # frames a packet to start at, probing down to base (None: base)

    def __post_init__(self) -> None:
        if not 1 <= self.base <= self.most <= MAX_PRIMARY_V3:
            raise ValueError(f"need 1 <= base <= most <= {MAX_PRIMARY_V3}")
        if self.max_bitrate is not None and self.max_bitrate <= 0:
            raise ValueError("max_bitrate must be positive")
        if self.frame_ms <= 0 or self.calm_reports < 1 or self.sustained_reports < 1:
            raise ValueError("frame_ms must be positive, calm_reports and sustained_reports at least 1")
        if self.queue_distress_ms is not None and not (self.queue_distress_ms > 0 and self.rising_trend > 0):
            raise ValueError("queue_distress_ms and rising_trend must be positive")
        if self.start is not None and not self.base <= self.start <= self.most:
            raise ValueError("start must lie within [base, most]")


def most_frames(frame_ms: float, version_most: int = MAX_PRIMARY_V3) -> int:
    """The most frames a packet may carry: :data:`MAX_PACKET_MS` of audio, at least 1."""
    return max(1, min(version_most, int(MAX_PACKET_MS // frame_ms)))


def fit_cap(cap_bps: float | None, frame_bytes: float, redundancy: int, config: SizeConfig,
            least: int | None = None) -> tuple[int, int]:
    """(frames per packet, redundancy): the fewest frames from ``least`` (default
    ``config.base``) whose talking rate fits ``cap_bps`` with ``redundancy``; else ``most``
    frames with the most redundancy that fits (0 if none does)."""
    least = config.base if least is None else least
    rate = config.wire.stream_bps
    if cap_bps is None:
        return least, redundancy
    for n in range(least, config.most + 1):
        if rate(n, frame_bytes, redundancy, config.frame_ms) <= cap_bps:
            return n, redundancy
    r = redundancy
    while r > 0 and rate(config.most, frame_bytes, r, config.frame_ms) > cap_bps:
        r -= 1
    return config.most, r


class PacketSizer:
    """Follows reports and caps; :meth:`update` gives (frames per packet, redundancy)."""

    def __init__(self, config: SizeConfig | None = None) -> None:
        self.config = config or SizeConfig()
        self.link_cap: float | None = None  # what an overloaded link seemed to carry, bit/s
        self._calm = 0
        self._calm_needed = self.config.calm_reports
        self._since_step_down: int | None = None
        self._settling = 0  # reports after a cut that still describe the rate before it
        self._receiver_caps: list[float | None] = []
        self._loss = 0.0  # smoothed loss fraction of the reports
        self._residual = 0.0  # smoothed residual (unrepaired) loss of the reports
        self._cut_loss: float | None = None  # the loss that made the last cut, until judged
        self._since_cut = 0
        self._hold = 0  # reports in which loss is taken as the link's own, not an overload
        self._hold_needed = HOLD_REPORTS
        self._lossy_run = 0  # consecutive reports past both loss thresholds
        self._queued_run = 0  # consecutive reports with a queue that is not draining
        self._overran: float | None = None  # the least rate that filled the link's queue, bit/s
        self._since_overrun = 0
        self._start_pending = self.config.start is not None and self.config.start > self.config.base
        self.frames_per_packet, self.redundancy = self.config.base, 0

    @property
    def cap_bps(self) -> float | None:
        """The cap in force: ours, the lowest of the receivers' latest, or the link's."""
        caps = [c for c in [self.config.max_bitrate, self.link_cap, *self._receiver_caps] if c is not None]
        return min(caps) if caps else None

    def _begin(self, frame_bytes: float, redundancy: int) -> None:
        """A slow start: the first plan or report takes the rate of ``start`` frames as the
        link's, from which calm reports probe down to ``base`` as after a cut."""
        if self._start_pending:
            c = self.config
            self._start_pending = False
            self.link_cap = c.wire.stream_bps(c.start, frame_bytes, redundancy, c.frame_ms)

    def plan(self, frame_bytes: float, redundancy: int) -> tuple[int, int]:
        """(frames per packet, redundancy) for the current state, without a new report."""
        self._begin(frame_bytes, redundancy)
        self.frames_per_packet, self.redundancy = fit_cap(self.cap_bps, frame_bytes, redundancy, self.config)
        return self.frames_per_packet, self.redundancy

    def update(self, report: ReceiverReport, frame_bytes: float, redundancy: int,
               receivers: int = 1) -> tuple[int, int]:
        """Take one report (``redundancy``: what the reports ask for, see
        :func:`transport.packetizer.redundancy_for`); with ``receivers`` listeners the lowest
        cap of the last ``receivers`` reports counts."""
        c = self.config
        self._begin(frame_bytes, redundancy)
        cap = report.max_kbps * 1000.0 if report.max_kbps else None
        self._receiver_caps = (self._receiver_caps + [cap])[-max(1, receivers):]
        self._loss += LOSS_SMOOTHING * (report.loss_fraction - self._loss)
        self._residual += LOSS_SMOOTHING * (report.residual_loss - self._residual)
        if self._hold:
            self._hold -= 1
        if self._cut_loss is not None:
            self._since_cut += 1
            if self._since_cut > SETTLE_REPORTS:  # the first report that shows the cut's effect
                if report.loss_fraction > UNDO_RATIO * self._cut_loss:
                    # Sending less did not lose less: the loss is the link's own (random or
                    # bursty), and larger packets with less redundancy only repair less of it.
                    self.link_cap, self._settling, self._calm = None, 0, 0
                    self._hold, self._hold_needed = self._hold_needed, min(MAX_CALM_REPORTS, 2 * self._hold_needed)
                self._cut_loss = None
        lossy_now = (min(self._loss, report.loss_fraction) >= c.loss_distress
                     and min(self._residual, report.residual_loss) >= c.residual_distress)
        self._lossy_run = self._lossy_run + 1 if lossy_now else 0
        lossy = self._lossy_run >= c.sustained_reports
        jittery = c.jitter_distress_ms is not None and report.jitter_ms >= c.jitter_distress_ms
        # Right after a rise a queue is the rise's doing: half as much counts.
        probing = self._since_step_down is not None and self._since_step_down < PROBE_REPORTS
        sensitivity = 0.5 if probing else 1.0
        queued = (c.queue_distress_ms is not None and report.queue_delay_ms is not None
                  and report.queue_delay_ms >= sensitivity * c.queue_distress_ms)
        queued_now = queued and report.delay_trend > DRAINING_TREND
        self._queued_run = self._queued_run + 1 if queued_now else 0
        # A queue that grows fast, or stays in two reports in a row: we overrun the link.
        overuse = queued_now and (self._queued_run >= 2 or report.delay_trend >= sensitivity * c.rising_trend)
        distress = (lossy or jittery) and not self._hold or overuse
        if self._since_step_down is not None:
            self._since_step_down += 1
        if self._overran is not None:
            self._since_overrun += 1
            if self._since_overrun > MAX_CALM_REPORTS:  # about a minute: the link may have widened
                self._overran = None
        sending = c.wire.stream_bps(self.frames_per_packet, frame_bytes, self.redundancy, c.frame_ms)
        if distress and self._settling:
            self._settling, self._calm = self._settling - 1, 0  # the cut's effect is not in this report yet
        elif distress:
            if self._since_step_down is not None and self._since_step_down <= 2:
                self._calm_needed = min(MAX_CALM_REPORTS, 2 * self._calm_needed)  # it was too soon
            self._since_step_down = None
            # What got through is about what the link carries: aim 10 % under it, cutting at
            # most half of the rate at once. Under a queue, less what the queue grew by, and
            # less again to drain what stands in it within a second or so.
            queue, least_share = 1.0, 0.5
            if overuse:
                growth = max(0.0, report.delay_trend) / 1000  # s of queue per s
                standing = report.queue_delay_ms / 1000 + growth / 2  # at the report (a mean over ~1 s)
                queue, least_share = (1 + growth) / (1 - min(0.5, standing)), OVERUSE_LEAST_SHARE
                self._overran = sending if self._overran is None else min(self._overran, sending)
                self._since_overrun = 0
            carried = max(least_share, 0.9 * (1 - report.loss_fraction) / queue) * sending
            least = c.wire.stream_bps(c.most, frame_bytes, min(redundancy, c.most), c.frame_ms)
            self.link_cap = max(least, carried if self.link_cap is None else min(self.link_cap, carried))
            self._calm, self._settling = 0, SETTLE_REPORTS
            # A cut for a queue is not judged by the loss that follows it (random loss stays).
            self._cut_loss, self._since_cut = None if overuse else report.loss_fraction, 0
        elif self.link_cap is not None:
            self._settling = 0
            self._calm += 0 if queued else 1  # a standing queue is no time to send more
            if self._calm >= self._calm_needed:  # try a quarter more, short of what overran the link
                self._calm, self._since_step_down = 0, 0
                ceiling = float("inf") if self._overran is None else OVERRUN_MARGIN * self._overran
                self.link_cap = max(self.link_cap, min(1.25 * self.link_cap, ceiling))
                if self.link_cap >= c.wire.stream_bps(c.base, frame_bytes, redundancy, c.frame_ms):
                    self.link_cap = None
        return self.plan(frame_bytes, redundancy)


def follow_report(sizer: PacketSizer, packetizer: Packetizer, report: ReceiverReport,
                  frame_bytes: float, receivers: int = 1) -> tuple[int, int]:
    """One receiver report about our stream: the packetizer's redundancy adapts to it, the sizer
    takes it, and the packetizer packs what the sizer says from its next packet on (frames per
    packet, redundancy). ``frame_bytes`` counts until the packetizer has seen frames."""
    wanted = packetizer.adapt(report, receivers=receivers)
    packetizer.frames_per_packet, packetizer.redundancy = sizer.update(
        report, packetizer.mean_frame_bytes or frame_bytes, wanted, receivers)
    return packetizer.frames_per_packet, packetizer.redundancy
