"""ServerMetrics: receiver reports, codec gauge, bounded labels, exposition text."""
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import generate_latest

from server.metrics import OTHER_CODEC, ServerMetrics, path_delay_estimate, report_from_message
from tests.utils import metric_value
from transport.packet import PacketError
from transport.report import ReceiverReport


def text(m: ServerMetrics) -> str:
    return generate_latest(m.registry).decode()


def test_reports_turn_cumulative_totals_into_counters_per_stream():
    m = ServerMetrics(codecs=("opus-8k",))
    m.observe_report(2, 1, ReceiverReport(sender=1, highest_seq=100, loss_fraction=0.1, residual_loss=0.02,
                                       max_burst=3, concealed_total=2, lost_total=10, recovered=8))
    m.observe_report(3, 1, ReceiverReport(sender=1, highest_seq=100, concealed_total=5, lost_total=7))
    m.observe_report(2, 1, ReceiverReport(sender=1, highest_seq=150, concealed_total=3, lost_total=14, recovered=3))
    t = text(m)
    assert metric_value(t, "focalcall_client_reports_total") == 3
    assert metric_value(t, "focalcall_client_report_streams") == 2
    assert metric_value(t, "focalcall_client_packets_lost_total") == 14 + 7
    assert metric_value(t, "focalcall_client_frames_concealed_total") == 3 + 5
    assert metric_value(t, "focalcall_client_frames_recovered_total") == 11
    assert metric_value(t, "focalcall_client_loss_ratio_count", 'stage="before_recovery"') == 3
    # 0.1 quantizes to 25/256 on the wire; the dataclass keeps what it was given
    assert metric_value(t, "focalcall_client_loss_ratio_sum", 'stage="before_recovery"') == pytest.approx(0.1)
    assert metric_value(t, "focalcall_client_loss_ratio_sum", 'stage="after_recovery"') == pytest.approx(0.02)
    assert metric_value(t, "focalcall_client_loss_burst_packets_bucket", 'le="2.0"') == 2
    assert metric_value(t, "focalcall_client_loss_burst_packets_bucket", 'le="3.0"') == 3


def test_a_restarted_stream_restarts_its_baseline_and_forget_drops_streams():
    m = ServerMetrics(codecs=())
    m.observe_report(2, 1, ReceiverReport(sender=1, highest_seq=5, concealed_total=10, lost_total=10))
    m.observe_report(2, 1, ReceiverReport(sender=1, highest_seq=5, concealed_total=1, lost_total=2))  # restarted
    m.observe_report(2, 1, ReceiverReport(sender=1, highest_seq=9, concealed_total=4, lost_total=2))
    assert m.frames_concealed._value.get() == 13 and m.packets_lost._value.get() == 10
    m.observe_report(1, 2, ReceiverReport(sender=2, highest_seq=5))
    m.observe_report(3, 4, ReceiverReport(sender=4, highest_seq=5))
    m.forget(2)
    assert m.report_streams._value.get() == 1 and set(m._streams) == {(3, 4)}


def test_streams_are_keyed_by_participant_objects_not_room_local_ids():
    class Participant:  # ids repeat across rooms; the server passes its objects
        def __init__(self, pid):
            self.id = pid

    m = ServerMetrics(codecs=())
    a1, b1, a2, b2 = Participant(1), Participant(2), Participant(1), Participant(2)
    m.observe_report(b1, a1, ReceiverReport(sender=1, highest_seq=5, lost_total=4))
    m.observe_report(b2, a2, ReceiverReport(sender=1, highest_seq=5, lost_total=3))
    assert m.packets_lost._value.get() == 7 and m.report_streams._value.get() == 2
    m.forget(a1)
    assert set(m._streams) == {(b2, a2)}


def test_delay_histograms_and_mouth_to_ear():
    m = ServerMetrics(codecs=())
    report = ReceiverReport(sender=1, highest_seq=1, jitter_ms=3.5, playout_delay_ms=60)
    m.observe_report(2, 1, report)  # no path delay known: no mouth-to-ear sample
    m.observe_report(2, 1, report, path_delay_s=path_delay_estimate(0.03, 0.02, 0.04))
    t = text(m)
    assert metric_value(t, "focalcall_client_jitter_seconds_sum") == pytest.approx(0.007)
    assert metric_value(t, "focalcall_client_jitter_buffer_delay_seconds_bucket", 'le="0.06"') == 2
    assert metric_value(t, "focalcall_client_jitter_buffer_delay_seconds_bucket", 'le="0.04"') == 0
    assert metric_value(t, "focalcall_mouth_to_ear_seconds_count") == 1
    assert metric_value(t, "focalcall_mouth_to_ear_seconds_sum") == pytest.approx(0.03 + 0.03 + 0.06)
    assert path_delay_estimate(0.03, None, 0.01) is None


def test_codec_gauge_has_a_closed_label_set():
    m = ServerMetrics(codecs=("opus-8k", "codec2-700c"))
    m.set_sender_codec(1, "opus-8k", delay_s=0.0265)
    m.set_sender_codec(2, "opus-8k")
    m.set_sender_codec(3, "room-of-alice")  # not a codec name: never becomes a label
    m.set_sender_codec(2, "codec2-700c")
    t = text(m)
    assert metric_value(t, "focalcall_senders", 'codec="opus-8k"') == 1
    assert metric_value(t, "focalcall_senders", 'codec="codec2-700c"') == 1
    assert metric_value(t, "focalcall_senders", f'codec="{OTHER_CODEC}"') == 1
    assert "room-of-alice" not in t
    assert m.codec_delay(1) == 0.0265 and m.codec_delay(2) is None and m.codec_delay(9) is None
    m.forget(3)
    m.forget(3)  # twice is harmless
    assert metric_value(text(m), "focalcall_senders", f'codec="{OTHER_CODEC}"') == 0


def test_default_codec_labels_come_from_the_registry():
    m = ServerMetrics()
    m.set_sender_codec(1, "codec2-700c")
    assert metric_value(text(m), "focalcall_senders", 'codec="codec2-700c"') == 1


def test_report_from_message_binary_and_json():
    report = ReceiverReport(sender=4, highest_seq=300, loss_fraction=0.25, residual_loss=0.125, max_burst=2,
                            jitter_ms=1.5, playout_delay_ms=40, target_delay_ms=60, recovered=7,
                            concealed_total=3, lost_total=9)
    assert report_from_message(report.to_bytes()) == report
    as_json = json.dumps({"type": "report", "sender": 4, "highest_seq": 300, "loss_fraction": 0.25,
                          "concealed_total": 3})
    assert report_from_message(as_json) == ReceiverReport(sender=4, highest_seq=300, loss_fraction=0.25,
                                                          concealed_total=3)
    queued = ReceiverReport(sender=4, highest_seq=300, queue_delay_ms=250, delay_trend=-40.5)
    assert report_from_message(queued.to_bytes()) == queued  # 28 bytes: with queueing delay
    as_json = json.dumps({"type": "report", "sender": 4, "highest_seq": 300, "queue_delay_ms": 250,
                          "delay_trend": -40.5})
    assert report_from_message(as_json) == queued  # a draining queue's trend is negative


@pytest.mark.parametrize("message, error", [
    (b"\x41" * 5, "not a receiver report"),
    (b"\x42" + b"\x00" * 23, "of type 2 must be 28 bytes"),
    ('{"type": "report", "sender": 1, "highest_seq": 2, "queue_delay_ms": 5}', "both or neither"),
    ('{"type": "report", "sender": 1, "highest_seq": 2, "queue_delay_ms": -5, "delay_trend": 0}', "must be"),
    (b"\x00" * 24, "not a version 1 receiver report"),
    ("{oops", "not JSON"),
    ('{"type": "hello"}', "not a receiver report"),
    ('[1, 2]', "not a receiver report"),
    ('{"type": "report", "sender": 1}', "bad receiver report"),
    ('{"type": "report", "sender": 1, "highest_seq": 2, "colour": 3}', "bad receiver report"),
    ('{"type": "report", "sender": "1", "highest_seq": 2}', "'sender' must be a non-negative integer"),
    ('{"type": "report", "sender": 1.5, "highest_seq": 2}', "'sender' must be a non-negative integer"),
    ('{"type": "report", "sender": 1, "highest_seq": 2, "recovered": -1}', "'recovered' must be"),
    ('{"type": "report", "sender": 1, "highest_seq": 2, "loss_fraction": 2}', "not in [0, 1]"),
    ('{"type": "report", "sender": 1, "highest_seq": 2, "jitter_ms": true}', "'jitter_ms' must be"),
])
def test_report_from_message_rejects_malformed_input(message, error):
    with pytest.raises(PacketError) as info:
        report_from_message(message)
    assert error in str(info.value)


def test_loop_histogram_buckets_are_cumulative_and_bounds_inclusive():
    m = ServerMetrics(codecs=())
    for value in (0.00005, 0.00006, 0.004, 0.005, 0.3):  # exactly on a bound counts as <= it
        m.relay_seconds.observe(value)
    t = text(m)
    expected = {"5e-05": 1, "0.0001": 2, "0.00025": 2, "0.0025": 2, "0.005": 4, "0.025": 4, "+Inf": 5}
    for bound, count in expected.items():
        assert metric_value(t, "focalcall_relay_seconds_bucket", f'le="{bound}"') == count, bound
    assert metric_value(t, "focalcall_relay_seconds_count") == 5
    assert metric_value(t, "focalcall_relay_seconds_sum") == pytest.approx(0.30911)


def test_loop_counters_export_as_counters():
    m = ServerMetrics(codecs=())
    m.packets_in.inc()
    m.bytes_in.inc(33)
    m.bytes_in.inc(7)
    t = text(m)
    assert "# TYPE focalcall_bytes_received_total counter" in t
    assert metric_value(t, "focalcall_packets_received_total") == 1
    assert metric_value(t, "focalcall_bytes_received_total") == 40 == m.bytes_in.get()


def test_loop_histogram_rejects_unsorted_buckets():
    from server.metrics import LoopHistogram
    with pytest.raises(ValueError, match="strictly increasing"):
        LoopHistogram("x", "x", (0.1, 0.01))


def test_payload_types_label_the_codec_gauge():
    from codec.payload_types import PAYLOAD_TYPES

    from server.metrics import payload_type_label
    assert payload_type_label(PAYLOAD_TYPES["codec2-700c"]) == "codec2-700c"
    assert payload_type_label(PAYLOAD_TYPES["opus-8k"]) == "opus"  # all bitrates share one type
    assert payload_type_label(63) == OTHER_CODEC
    m = ServerMetrics()
    m.set_sender_codec("a", "codec2-700c", delay_s=0.04)
    for _ in range(3):
        m.observe_payload_type("a", PAYLOAD_TYPES["codec2-700c"])
    assert m.codec_delay("a") == 0.04  # same codec: its delay is kept
    m.observe_payload_type("b", PAYLOAD_TYPES["opus-6k"])
    t = text(m)
    assert metric_value(t, "focalcall_senders", 'codec="codec2-700c"') == 1
    assert metric_value(t, "focalcall_senders", 'codec="opus"') == 1
    m.observe_payload_type("a", PAYLOAD_TYPES["opus-12k"])  # switched codec: delay unknown
    assert m.codec_delay("a") is None
    assert metric_value(text(m), "focalcall_senders", 'codec="opus"') == 2
    m.forget("a")
    assert metric_value(text(m), "focalcall_senders", 'codec="opus"') == 1


def test_json_reports_take_the_wire_ranges():
    """A JSON report cannot carry what the 24-byte form cannot: 10^30 saturates, inf is refused."""
    huge = report_from_message('{"type": "report", "sender": 1, "highest_seq": 2, "concealed_total": 1' + "0" * 30 + "}")
    assert huge.concealed_total == 0xFFFFFFFF
    with pytest.raises(PacketError, match="bad receiver report"):
        report_from_message('{"type": "report", "sender": 1, "highest_seq": 2, "jitter_ms": Infinity}')


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=40), st.text(max_size=100),
                 st.dictionaries(st.sampled_from(["type", "sender", "highest_seq", "loss_fraction", "jitter_ms",
                                                  "concealed_total", "max_burst", "x"]),
                                 st.one_of(st.just("report"), st.integers(-5, 2 ** 70), st.floats(), st.none(),
                                           st.booleans(), st.text(max_size=5)), max_size=8).map(json.dumps)))
def test_any_control_message_is_a_report_or_a_packet_error(message):
    try:
        report = report_from_message(message)
    except PacketError:
        return
    assert report.to_bytes() and 0 <= report.concealed_total <= 0xFFFFFFFF
