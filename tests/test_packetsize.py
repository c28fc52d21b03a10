"""Frames per packet from caps and receiver reports (transport.packetsize), and the wire model."""
from __future__ import annotations

import pytest

from transport.packetizer import Packetizer, PacketizerConfig
from transport.packetsize import PacketSizer, SizeConfig, fit_cap, follow_report
from transport.report import ReceiverReport
from transport.wire import SACK_BYTES, WireModel, wire_bytes

CLEAN = ReceiverReport(sender=1, highest_seq=0)
LOSSY = ReceiverReport(sender=1, highest_seq=0, loss_fraction=0.6, residual_loss=0.2)  # overloaded: unrepaired
JITTERY = ReceiverReport(sender=1, highest_seq=0, jitter_ms=90)


def test_wire_model_counts_both_directions():
    assert wire_bytes(29) == 125 and SACK_BYTES == 93  # a 65-byte UDP payload, as measured
    aiortc, delayed = WireModel(1), WireModel(2)
    assert aiortc.packet_bytes(29) == 125 + 93 and delayed.packet_bytes(29) == 125 + 46.5
    assert aiortc.rates([29] * 25, 1.0) == (25000.0, 25 * 93 * 8)
    # focal-800 (2-byte frames), 2 a packet, 8 redundant, version 3 (30 bytes): 25 packets/s
    assert aiortc.stream_bps(2, 2, 8, 20) == pytest.approx(8 * (125 + 93) * 25)
    with pytest.raises(ValueError):
        WireModel(0.5)


def test_without_a_cap_or_trouble_packets_stay_at_the_base_size():
    sizer = PacketSizer()
    for _ in range(10):
        assert sizer.update(CLEAN, 2.0, 8) == (2, 8)
    assert sizer.update(ReceiverReport(sender=1, highest_seq=0, loss_fraction=0.1), 2.0, 8) == (2, 8)


def test_a_cap_takes_the_fewest_frames_that_fit_then_trims_redundancy():
    c = SizeConfig(max_bitrate=12000)
    n, r = fit_cap(12000, 2.0, 8, c)
    assert (n, r) == (8, 8) and c.wire.stream_bps(8, 2.0, 8, 20) <= 12000 < c.wire.stream_bps(7, 2.0, 8, 20)
    assert fit_cap(23000, 2.0, 8, c)[0] == 4  # 22.2 kbit/s
    n, r = fit_cap(11000, 2.0, 8, c)
    assert n == 8 and 0 < r < 8 and c.wire.stream_bps(8, 2.0, r, 20) <= 11000
    assert fit_cap(1000, 2.0, 8, c) == (8, 0)  # nothing fits: the least there is
    assert PacketSizer(c).plan(2.0, 8) == (8, 8)


def test_a_receiver_cap_counts_until_a_later_report_drops_it():
    sizer = PacketSizer()
    capped = ReceiverReport(sender=1, highest_seq=0, max_kbps=23)
    assert sizer.update(capped, 2.0, 8) == (4, 8) and sizer.cap_bps == 23000
    # two listeners: the lowest cap of the last two reports holds
    assert sizer.update(CLEAN, 2.0, 8, receivers=2) == (4, 8)
    assert sizer.update(CLEAN, 2.0, 8, receivers=2) == (2, 8)


def test_an_overloaded_link_adds_frames_and_calm_takes_them_off_with_backoff():
    sizer = PacketSizer(SizeConfig(calm_reports=3, jitter_distress_ms=80))
    # each cut is followed by two reports not believed for another (packets sent before it)
    assert [sizer.update(JITTERY, 2.0, 8)[0] for _ in range(4)] == [3, 3, 3, 4]
    assert [sizer.update(CLEAN, 2.0, 8)[0] for _ in range(3)] == [4, 4, 3]
    assert sizer.update(JITTERY, 2.0, 8)[0] == 4  # too early: the next try waits twice as long
    assert [sizer.update(CLEAN, 2.0, 8)[0] for _ in range(6)] == [4] * 5 + [3]


AT_30 = SizeConfig(loss_distress=0.3, sustained_reports=1)  # the sequences below read more easily


def test_loss_counts_smoothed_so_random_loss_alone_costs_no_latency():
    sizer = PacketSizer(AT_30)
    unlucky = ReceiverReport(sender=1, highest_seq=0, loss_fraction=0.4, residual_loss=0.1)
    assert sizer.update(unlucky, 2.0, 8)[0] == 2  # one second of 40 % after a clean start
    assert [sizer.update(CLEAN, 2.0, 8)[0] for _ in range(3)] == [2, 2, 2]
    # sustained: overloaded (the second report); at 60 % loss 2 frames become 5 (a cut at most
    # halves the rate); the two reports after it are not believed for another cut; the next,
    # still overloaded though less lossy, cuts again; no cut goes below 8 frames with 8 redundant
    assert [sizer.update(LOSSY, 2.0, 8) for _ in range(3)] == [(2, 8)] + [(5, 8)] * 2
    less = ReceiverReport(sender=1, highest_seq=0, loss_fraction=0.4, residual_loss=0.1)
    assert [sizer.update(less, 2.0, 8) for _ in range(4)] == [(5, 8)] + [(8, 8)] * 3


def test_a_cut_that_does_not_lower_the_loss_is_undone_and_the_loss_taken_as_the_links():
    """Bursty loss that reaches the thresholds is not an overload when sending less loses as much:
    larger packets with less redundancy would only repair less of it (bench/loss.py, bursty 20 %)."""
    sizer = PacketSizer(AT_30)
    # the cut (second report), two reports not believed, then one that shows the cut did not help
    assert [sizer.update(LOSSY, 2.0, 8) for _ in range(5)] == [(2, 8)] + [(5, 8)] * 3 + [(2, 8)]
    assert sizer.cap_bps is None
    assert [sizer.update(LOSSY, 2.0, 8) for _ in range(9)] == [(2, 8)] * 9  # held off (10 reports with the undoing one)
    assert sizer.update(LOSSY, 2.0, 8) == (5, 8)  # then believed again


def test_heavy_loss_that_redundancy_repairs_keeps_the_packets_and_their_protection():
    """30 % random loss: 160 ms of redundancy leaves 0.4 % unrepaired; cutting to 8 frames a
    packet with one packet of redundancy would leave 9 % (bench/loss.py measured it)."""
    sizer = PacketSizer()
    repaired = ReceiverReport(sender=1, highest_seq=0, loss_fraction=0.3, residual_loss=0.004)
    assert [sizer.update(repaired, 2.0, 8) for _ in range(10)] == [(2, 8)] * 10
    assert sizer.cap_bps is None


def test_an_overload_that_is_over_cuts_no_further():
    """Reports of random loss after a cut leave it be, though the smoothed loss still remembers
    the overload (a sender that kept cutting ended at 2 kbit/s and no redundancy on a 16 kbit/s
    link with 10 % loss)."""
    sizer = PacketSizer(AT_30)
    assert [sizer.update(LOSSY, 2.0, 8)[0] for _ in range(2)] == [2, 5]
    random_loss = ReceiverReport(sender=1, highest_seq=0, loss_fraction=0.1, max_burst=1)
    assert [sizer.update(random_loss, 2.0, 8) for _ in range(3)] == [(5, 8)] * 3


def test_config_is_validated():
    for bad in ({"base": 0}, {"base": 3, "most": 2}, {"most": 9}, {"max_bitrate": 0}, {"calm_reports": 0}):
        with pytest.raises(ValueError):
            SizeConfig(**bad)


def test_by_default_bursty_loss_under_40_percent_is_no_overload():
    """Gilbert-Elliott 8.3 %/33.3 % (20 % in bursts) gave reports of 30-40 % with some frames
    unrepaired; cutting there left 5 % unrepaired instead of 1.4 % (bench/loss.py)."""
    sizer = PacketSizer()
    bursty = ReceiverReport(sender=1, highest_seq=0, loss_fraction=0.38, residual_loss=0.06)
    assert [sizer.update(bursty, 2.0, 8) for _ in range(12)] == [(2, 8)] * 12


def test_loss_counts_as_overload_only_when_it_lasts():
    sizer = PacketSizer()
    bad = ReceiverReport(sender=1, highest_seq=0, loss_fraction=0.6, residual_loss=0.2)
    # bad seconds between better ones (bursty loss) never cut; three in a row do
    assert [sizer.update(r, 2.0, 8)[0] for r in [bad, bad, CLEAN, bad, bad, CLEAN]] == [2] * 6
    run = [sizer.update(bad, 2.0, 8)[0] for _ in range(6)]
    assert run[:2] == [2, 2] and run[-1] == 5  # (the smoothed loss has to catch up too)


def test_a_report_moves_the_packetizer_to_what_the_sizer_says():
    """A receiver asks for 12 kbit/s: the packetizer's next packet carries the frames the cap
    needs, and the redundancy its reports ask for."""
    sizer = PacketSizer(SizeConfig(most=8))
    packetizer = Packetizer(PacketizerConfig(payload_type=1, sender=1, frames_per_packet=2, redundancy=0, version=3))
    capped = ReceiverReport(sender=1, highest_seq=0, loss_fraction=0.1, max_burst=2, max_kbps=12)
    frames, redundancy = follow_report(sizer, packetizer, capped, frame_bytes=2.0)
    assert frames > 2 and redundancy > 0
    assert (packetizer.frames_per_packet, packetizer.redundancy) == (frames, redundancy)
    packets = [p for _ in range(frames) for p in packetizer.push(b"\x01\x02")]
    assert len(packets) == 1 and packetizer.mean_frame_bytes == 2.0


def queued(delay_ms: float, trend: float, loss: float = 0.1) -> ReceiverReport:
    """A report whose receiver measured ``delay_ms`` of queueing, growing ``trend`` ms per s."""
    return ReceiverReport(sender=1, highest_seq=0, loss_fraction=loss, max_burst=1, queue_delay_ms=delay_ms,
                          delay_trend=trend)


def test_a_queue_growing_fast_is_a_narrow_link_at_once():
    sizer = PacketSizer()
    assert sizer.plan(2.0, 8) == (2, 8)
    # 2 frames a packet overrun the link: the queue grows half a second a second, 10 % random loss
    # (about 550 ms standing at the report): the cut goes to 30 % of the rate, not half, so
    # the queue drains before the frames in it run later than the receiver waits
    n, r = sizer.update(queued(300, 500), 2.0, 8)
    sending = SizeConfig().wire.stream_bps(2, 2.0, 8, 20)
    assert (n, r) == (7, 8) and sizer.cap_bps == pytest.approx(0.3 * sending)
    sizer = PacketSizer()
    sizer.plan(2.0, 8)
    sizer.update(queued(120, 150, loss=0.05), 2.0, 8)  # a smaller queue, growing slower: a smaller cut
    assert sizer.cap_bps == pytest.approx(0.9 * 0.95 * (1 - 0.195) / 1.15 * sending)


def test_a_standing_queue_is_a_narrow_link_in_two_reports():
    sizer = PacketSizer()
    sizer.plan(2.0, 8)
    assert [sizer.update(queued(300, 0), 2.0, 8)[0] for _ in range(2)] == [2, 4]
    assert sizer.cap_bps == pytest.approx(0.9 * 0.9 * 0.7 * SizeConfig().wire.stream_bps(2, 2.0, 8, 20))


def test_a_draining_queue_after_a_cut_is_no_overuse_and_no_calm():
    sizer = PacketSizer(SizeConfig(calm_reports=2))
    sizer.plan(2.0, 8)
    cut = sizer.update(queued(400, 400), 2.0, 8)[0]
    # the queue drains (the cut fits): no second cut, and no step back up while it stands
    assert [sizer.update(queued(d, -300), 2.0, 8)[0] for d in (500, 300, 150)] == [cut] * 3
    probe = [sizer.update(queued(10, -5), 2.0, 8)[0] for _ in range(2)]  # empty: calm, then a probe
    assert probe[0] == cut and probe[1] < cut


def test_probes_stay_under_the_rate_that_overran_the_link():
    sizer = PacketSizer(SizeConfig(calm_reports=1))
    sizer.plan(2.0, 8)
    overran = SizeConfig().wire.stream_bps(2, 2.0, 8, 20)
    sizer.update(queued(300, 500), 2.0, 8)
    caps = [sizer.update(CLEAN, 2.0, 8) and sizer.cap_bps for _ in range(12)]
    assert caps[-1] == pytest.approx(0.95 * overran) and sizer.update(CLEAN, 2.0, 8) == (3, 8)
    # about a minute later the link may have widened: the base size is tried again
    assert [sizer.update(CLEAN, 2.0, 8)[0] for _ in range(60)][-1] == 2


def test_random_loss_stays_after_a_cut_for_a_queue_and_does_not_undo_it():
    sizer = PacketSizer()
    assert sizer.update(queued(300, 500, loss=0.1), 2.0, 8)[0] > 2
    cap = sizer.cap_bps
    assert [sizer.update(queued(5, 0, loss=0.1), 2.0, 8)[0] > 2 for _ in range(4)] == [True] * 4
    assert sizer.cap_bps == cap  # calm, but not undone: the loss was never the reason


def test_loss_without_a_queue_is_no_overuse():
    """Random and bursty loss with jitter (a queue of tens of ms that comes and goes) cost no
    latency, as without queueing figures; a queue only counts once it is not draining."""
    sizer = PacketSizer()
    for k in range(12):
        lossy = ReceiverReport(sender=1, highest_seq=0, loss_fraction=0.38, residual_loss=0.06, max_burst=4,
                               queue_delay_ms=40 + 30 * (k % 2), delay_trend=(-1) ** k * 150)
        assert sizer.update(lossy, 2.0, 8) == (2, 8)
    assert [sizer.update(queued(150, -50), 2.0, 8)[0] for _ in range(3)] == [2] * 3  # draining


def test_queueing_delay_can_be_turned_off():
    sizer = PacketSizer(SizeConfig(queue_distress_ms=None))
    assert [sizer.update(queued(900, 900), 2.0, 8)[0] for _ in range(4)] == [2] * 4
    with pytest.raises(ValueError):
        SizeConfig(queue_distress_ms=0)


def test_right_after_a_rise_a_smaller_queue_counts():
    sizer = PacketSizer(SizeConfig(calm_reports=2))
    sizer.plan(2.0, 8)
    cut = sizer.update(queued(300, 500), 2.0, 8)[0]
    probe = [sizer.update(queued(5, 0), 2.0, 8)[0] for _ in range(2)][-1]
    assert probe < cut
    assert sizer.update(queued(60, 60), 2.0, 8)[0] > probe  # the probe's queue: cut back
    calm = [sizer.update(queued(5, 0), 2.0, 8)[0] for _ in range(2)]  # (no rise yet: 4 needed now)
    assert sizer.update(queued(60, 60), 2.0, 8)[0] == calm[-1]  # away from a rise, 60 ms is no overuse


def test_a_slow_start_probes_down_to_the_base_size_on_calm_reports():
    sizer = PacketSizer(SizeConfig(start=4, calm_reports=2))
    assert sizer.plan(2.0, 8) == (4, 8)  # before any report
    sizes = [sizer.update(queued(2, 0), 2.0, 8)[0] for _ in range(8)]
    assert sizes[0] == 4 and sizes[-1] == 2 and sizes == sorted(sizes, reverse=True)
    sizer = PacketSizer(SizeConfig(start=4))
    sizer.plan(2.0, 8)
    start = sizer.cap_bps
    assert sizer.update(queued(300, 500), 2.0, 8)[0] > 4 and sizer.cap_bps < start  # a queue at the start: cut
    with pytest.raises(ValueError):
        SizeConfig(start=1)
