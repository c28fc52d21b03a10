"""Prometheus metrics of one server. Labels are bounded: never room ids or user names.

Two sources feed them: the server's own relay and signaling (counted where they happen),
and receiver reports that clients send on the control channel (:meth:`ServerMetrics.observe_report`),
which say how the calls sound at the far end: loss before and after recovery, concealed frames,
jitter, jitter-buffer delay and, with the server's path delay, a mouth-to-ear estimate.
"""
from __future__ import annotations

import json
from bisect import bisect_left
from functools import lru_cache
from typing import Hashable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from transport.packet import PacketError
from transport.report import REPORT_SIZE, REPORT_SIZES, ReceiverReport, parse_report

LOSS_BUCKETS = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
DELAY_BUCKETS = (0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)
MOUTH_TO_EAR_BUCKETS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.0)
RELAY_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025)
BURST_BUCKETS = (0, 1, 2, 3, 5, 10, 25, 50)
OTHER_CODEC = "other"  # label for a codec name outside the allowed set
_INT_FIELDS = frozenset({"sender", "highest_seq", "max_burst", "recovered", "concealed_total", "lost_total",
                         "max_kbps"})
_SIGNED_FIELDS = frozenset({"delay_trend"})  # a queue that drains has a negative trend


class LoopCounter:
    """A counter for the event-loop thread: a plain add instead of prometheus_client's locked
    increment. The relay counts five things per packet, and those locks were about 3 % of the
    server's CPU under load (BENCHMARKS.md, "Server hot path"). Scrapes run on the same loop, so
    nothing races. Exported by :class:`_LoopCollector` as ``<name>_total``."""

    def __init__(self, name: str, documentation: str) -> None:
        self.name, self.documentation = name, documentation
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def get(self) -> float:
        return self.value

    def collect(self) -> CounterMetricFamily:
        family = CounterMetricFamily(self.name, self.documentation)
        family.add_metric([], self.value)
        return family


class LoopHistogram:
    """A histogram for the event-loop thread (see :class:`LoopCounter`): one bisect and two adds."""

    def __init__(self, name: str, documentation: str, buckets: tuple[float, ...]) -> None:
        if list(buckets) != sorted(set(buckets)):
            raise ValueError("histogram buckets must be strictly increasing")
        self.name, self.documentation, self.bounds = name, documentation, tuple(buckets)
        self.counts = [0] * (len(buckets) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def collect(self) -> HistogramMetricFamily:
        cumulative, running = [], 0
        for bound, count in zip((*map(floatToGoString, self.bounds), "+Inf"), self.counts):
            running += count
            cumulative.append((bound, running))
        return HistogramMetricFamily(self.name, self.documentation, buckets=cumulative, sum_value=self.sum)


class _LoopCollector(Collector):
    """Exports loop counters and histograms from a registry."""

    def __init__(self, metrics: tuple[LoopCounter | LoopHistogram, ...]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return (m.collect() for m in self._metrics)


class ServerMetrics:
    """Every metric the server exports, in a registry of its own (so tests can run many servers).

    ``codecs`` is the closed set of codec names allowed as label values (default: the codec
    registry's names and the payload-type labels); anything else is counted as ``"other"``.
    """

    def __init__(self, codecs: tuple[str, ...] | None = None) -> None:
        if codecs is None:
            from codec.registry import codec_names
            codecs = (*codec_names(), *_payload_type_labels().values())
        self._codecs = frozenset(codecs)
        self.registry = CollectorRegistry()
        r = self.registry
        self.rooms = Gauge("focalcall_rooms", "Rooms with at least one participant", registry=r)
        self.participants = Gauge("focalcall_participants", "Participants joined", registry=r)
        # Counted for every packet on the relay path: plain adds, exported at scrape time.
        self.packets_in = LoopCounter("focalcall_packets_received", "Audio packets received from participants")
        self.bytes_in = LoopCounter("focalcall_bytes_received", "Audio bytes received from participants")
        self.keepalives_in = LoopCounter(
            "focalcall_dtx_keepalives_received",
            "DTX keep-alive packets received (a sender in a pause sends one every 400 ms instead of frames)")
        self.packets_relayed = LoopCounter("focalcall_packets_relayed",
                                           "Audio packets sent to participants (one per receiver)")
        self.bytes_relayed = LoopCounter("focalcall_bytes_relayed", "Audio bytes sent to participants")
        self.packets_not_relayed = LoopCounter(
            "focalcall_packets_not_relayed", "Relays skipped because the receiver's channel was not open")
        self.relay_seconds = LoopHistogram(
            "focalcall_relay_seconds", "Time from receiving an audio packet to handing it to the last receiver",
            RELAY_BUCKETS)
        r.register(_LoopCollector((self.packets_in, self.bytes_in, self.keepalives_in, self.packets_relayed, self.bytes_relayed,
                                   self.packets_not_relayed, self.relay_seconds)))
        self.malformed_packets = Counter("focalcall_malformed_packets", "Data-channel messages dropped as malformed",
                                         ["reason"], registry=r)
        self.signaling_messages = Counter("focalcall_signaling_messages", "Signaling messages handled",
                                          ["type"], registry=r)
        self.signaling_errors = Counter("focalcall_signaling_errors", "Signaling messages answered with an error",
                                        ["code"], registry=r)
        self.channel_states = Counter("focalcall_datachannel_state_changes", "Data-channel state changes",
                                      ["label", "state"], registry=r)
        self.connection_states = Counter("focalcall_peer_connection_state_changes",
                                         "Peer-connection state changes", ["state"], registry=r)
        self.senders = Gauge("focalcall_senders", "Participants sending audio, by codec", ["codec"], registry=r)

        # Protection: who was refused, what was capped (labels are fixed sets of reasons).
        self.draining = Gauge("focalcall_draining", "1 while the server drains before shutting down", registry=r)
        self.sockets = Gauge("focalcall_signaling_sockets", "Open signaling WebSockets", registry=r)
        self.limit_hits = Counter("focalcall_limit_hits", "Requests refused or sessions ended because a limit bit",
                                  ["limit"], registry=r)
        self.auth_failures = Counter("focalcall_auth_failures",
                                     "Sockets refused for their Origin, joins refused for their token",
                                     ["reason"], registry=r)
        self.sessions_closed = Counter("focalcall_sessions_closed", "Signaling sessions the server ended, by reason",
                                       ["reason"], registry=r)
        self.reports_rejected = Counter("focalcall_client_reports_rejected",
                                        "Receiver reports dropped as impossible, unasked for or too frequent",
                                        ["reason"], registry=r)
        self.packets_capped = LoopCounter("focalcall_packets_capped",
                                          "Audio packets dropped at the relay: the sender exceeded its rate budget")
        self.bytes_capped = LoopCounter("focalcall_bytes_capped", "Bytes of the packets dropped by the rate budget")
        r.register(_LoopCollector((self.packets_capped, self.bytes_capped)))

        # What receivers report (one stream = one receiver hearing one sender).
        self.reports = Counter("focalcall_client_reports", "Receiver reports accepted", registry=r)
        self.report_streams = Gauge("focalcall_client_report_streams",
                                    "Streams (receiver, sender) with receiver reports", registry=r)
        self.loss_ratio = Histogram(
            "focalcall_client_loss_ratio",
            "Per-report loss: packets lost on the network (before_recovery) and frames concealed "
            "among frames played (after_recovery)", ["stage"], buckets=LOSS_BUCKETS, registry=r)
        self.packets_lost = Counter("focalcall_client_packets_lost", "Packets lost on the way to receivers",
                                    registry=r)
        self.frames_recovered = Counter("focalcall_client_frames_recovered",
                                        "Frames rebuilt by receivers from redundancy or parity", registry=r)
        self.frames_concealed = Counter("focalcall_client_frames_concealed",
                                        "Frames receivers had to conceal (lost or late after recovery)",
                                        registry=r)
        self.loss_burst = Histogram("focalcall_client_loss_burst_packets",
                                    "Longest run of consecutive lost packets per report",
                                    buckets=BURST_BUCKETS, registry=r)
        self.jitter_seconds = Histogram("focalcall_client_jitter_seconds",
                                        "Interarrival jitter reported by receivers (RFC 3550)",
                                        buckets=DELAY_BUCKETS, registry=r)
        self.jitter_buffer_seconds = Histogram(
            "focalcall_client_jitter_buffer_delay_seconds",
            "Mean time frames waited in receivers' jitter buffers, per report", buckets=DELAY_BUCKETS, registry=r)
        self.mouth_to_ear_seconds = Histogram(
            "focalcall_mouth_to_ear_seconds",
            "Estimated mouth-to-ear delay: codec delay + network path + jitter buffer",
            buckets=MOUTH_TO_EAR_BUCKETS, registry=r)
        # Last cumulative counts per (receiver, sender): reports carry totals, counters want deltas.
        self._streams: dict[tuple[Hashable, Hashable], tuple[int, int]] = {}
        self._sender_codec: dict[Hashable, tuple[str, float | None]] = {}
        self._sender_pt: dict[Hashable, int] = {}
        for stage in ("before_recovery", "after_recovery"):
            self.loss_ratio.labels(stage)  # export both series from the start

    def observe_report(self, receiver: Hashable, sender: Hashable, report: ReceiverReport,
                       path_delay_s: float | None = None) -> None:
        """Account one receiver report from participant ``receiver`` about ``sender``.

        Participants are whatever identifies them server-wide (the server passes its
        ``Participant`` objects: ids are only unique within a room); never label values.

        ``path_delay_s`` is everything between the sender's microphone and the receiver's
        jitter buffer that the server can estimate (codec frame + look-ahead, both network
        legs, relay); with it, the mouth-to-ear estimate adds the reported buffer delay.
        Cumulative counters that went backwards (a restarted stream) restart the baseline.
        """
        key = (receiver, sender)
        last_concealed, last_lost = self._streams.get(key, (0, 0))
        if report.concealed_total >= last_concealed:
            self.frames_concealed.inc(report.concealed_total - last_concealed)
        if report.lost_total >= last_lost:
            self.packets_lost.inc(report.lost_total - last_lost)
        self._streams[key] = (report.concealed_total, report.lost_total)
        self.report_streams.set(len(self._streams))
        self.reports.inc()
        self.frames_recovered.inc(report.recovered)
        self.loss_ratio.labels("before_recovery").observe(report.loss_fraction)
        self.loss_ratio.labels("after_recovery").observe(report.residual_loss)
        self.loss_burst.observe(report.max_burst)
        self.jitter_seconds.observe(report.jitter_ms / 1000)
        playout_s = report.playout_delay_ms / 1000
        self.jitter_buffer_seconds.observe(playout_s)
        if path_delay_s is not None:
            self.mouth_to_ear_seconds.observe(path_delay_s + playout_s)

    def set_sender_codec(self, participant: Hashable, codec: str | None, delay_s: float | None = None) -> None:
        """Record the codec ``participant`` sends with (``None``: stopped sending or left) and,
        if known, its frame plus look-ahead delay in seconds (see :meth:`codec_delay`)."""
        old = self._sender_codec.pop(participant, None)
        if old is not None:
            self.senders.labels(old[0]).dec()
        if codec is not None:
            label = codec if codec in self._codecs else OTHER_CODEC
            self._sender_codec[participant] = (label, delay_s)
            self.senders.labels(label).inc()

    def observe_payload_type(self, participant: Hashable, pt: int) -> None:
        """Per packet: note ``participant``'s payload type, updating the codec gauge on a change
        (a codec delay already recorded for the same codec is kept)."""
        if self._sender_pt.get(participant) == pt:
            return
        self._sender_pt[participant] = pt
        label = payload_type_label(pt)
        entry = self._sender_codec.get(participant)
        self.set_sender_codec(participant, label, entry[1] if entry is not None and entry[0] == label else None)

    def codec_delay(self, participant: Hashable) -> float | None:
        """The codec delay recorded for ``participant``'s stream, ``None`` if unknown."""
        entry = self._sender_codec.get(participant)
        return entry[1] if entry is not None else None

    def forget(self, participant: Hashable) -> None:
        """Drop what is kept about a participant who left (its streams and codec)."""
        self.set_sender_codec(participant, None)
        self._sender_pt.pop(participant, None)
        for key in [k for k in self._streams if participant in k]:
            del self._streams[key]
        self.report_streams.set(len(self._streams))


@lru_cache(maxsize=None)
def _payload_type_labels() -> dict[int, str]:
    """Payload type -> codec label: the codec's name, or the family where several share a type
    (every Opus bitrate is one payload type: ``opus``)."""
    from codec.payload_types import PAYLOAD_TYPES

    names: dict[int, list[str]] = {}
    for name, pt in PAYLOAD_TYPES.items():
        names.setdefault(pt, []).append(name)
    return {pt: group[0] if len(group) == 1 else group[0].split("-")[0] for pt, group in names.items()}


def payload_type_label(pt: int) -> str:
    """The codec label of payload type ``pt`` (:data:`OTHER_CODEC` if no codec claims it)."""
    return _payload_type_labels().get(pt, OTHER_CODEC)


def report_from_message(message: str | bytes) -> ReceiverReport:
    """A receiver report from a control-channel message: the binary form (24 or 28 bytes,
    :mod:`transport.report`) or JSON ``{"type": "report", <ReceiverReport fields>}``.

    Anything else raises :class:`~transport.packet.PacketError` (a ``ValueError``).
    """
    if isinstance(message, (bytes, bytearray, memoryview)):
        if len(message) not in REPORT_SIZES.values():
            raise PacketError(f"binary control message of {len(message)} bytes is not a receiver report")
        return parse_report(message)
    if len(message) > 4 * REPORT_SIZE * 20:
        raise PacketError(f"control message of {len(message)} characters is too long for a receiver report")
    try:
        data = json.loads(message)
    except (ValueError, TypeError, RecursionError) as exc:
        raise PacketError(f"control message is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("type") != "report":
        raise PacketError("control message is not a receiver report")
    fields = {k: v for k, v in data.items() if k != "type"}
    for name, value in fields.items():
        kind = int if name in _INT_FIELDS else (int, float)
        if isinstance(value, bool) or not isinstance(value, kind) or value < 0 and name not in _SIGNED_FIELDS:
            raise PacketError(f"report field {name!r} must be a non-negative "
                              f"{'integer' if kind is int else 'number'}")
    try:
        report = ReceiverReport(**fields)
    except TypeError as exc:  # unknown or missing field
        raise PacketError(f"bad receiver report: {exc}") from None
    try:
        return parse_report(report.to_bytes())  # the wire's ranges: counters saturate at 32 bits
    except (OverflowError, ValueError) as exc:  # inf / nan in a float field
        raise PacketError(f"bad receiver report: {exc}") from None


def path_delay_estimate(codec_delay_s: float, uplink_rtt_s: float | None, downlink_rtt_s: float | None,
                        relay_s: float = 0.0) -> float | None:
    """Mouth-to-jitter-buffer delay the server can estimate: the codec's frame and look-ahead,
    half of each leg's round-trip time, and the relay. ``None`` until both RTTs are known."""
    if uplink_rtt_s is None or downlink_rtt_s is None:
        return None
    return codec_delay_s + (uplink_rtt_s + downlink_rtt_s) / 2 + relay_s
