"""Which receiver reports the server believes (server.report_gate), on a fake clock."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from server.codec_facts import CodecFacts
from server.report_gate import ReportGate
from server.sender import SenderState
from transport.report import REPORT_SIZE, ReceiverReport, parse_report

NEURAL = CodecFacts(delay_s=0.04, bitrate=800, frame_ms=20)


def sending(packets: int, receiver: str = "R", start_seq: int = 65500) -> SenderState:
    """A sender that has relayed ``packets`` packets (2 a frame pair, 25 a second) to ``receiver``."""
    state = SenderState(2.0, now=0.0)
    state.set_codec(1, NEURAL, 0.0)
    for i in range(packets):
        seq = state.observe_seq((start_seq + i) % 65536)
        state.receivers.setdefault(receiver, (i * 0.04, seq))
    return state


def report(**fields) -> ReceiverReport:
    return ReceiverReport(**({"sender": 1, "highest_seq": (65500 + 49) % 65536} | fields))


def test_an_honest_report_passes_and_counters_move_on():
    gate, state = ReportGate(2.0), sending(50)
    assert gate.check("R", "S", state, report(lost_total=3, concealed_total=2, max_burst=2, recovered=4,
                                              jitter_ms=3.5, playout_delay_ms=60, target_delay_ms=60), 2.0) is None
    assert gate.check("R", "S", state, report(lost_total=3, concealed_total=2), 3.0) is None


def test_a_report_needs_a_stream_that_reaches_the_receiver():
    assert ReportGate(2.0).check("Eve", "S", sending(50), report(), 2.0) == "not-receiving"
    assert ReportGate(2.0).check("R", "S", SenderState(2.0, 0.0), report(), 2.0) == "not-receiving"


def test_reports_are_rate_limited_per_stream():
    gate, state = ReportGate(2.0), sending(50)
    reasons = [gate.check("R", "S", state, report(), 2.0 + i * 0.001) for i in range(5)]
    assert reasons == [None, None, "rate", "rate", "rate"]
    assert gate.check("R", "S", state, report(), 3.0) is None  # the bucket refills


def test_impossible_values_are_refused():
    cases = {
        "sequence": report(highest_seq=(65500 + 60) % 65536),   # beyond what was relayed
        "frames": report(concealed_total=1_000_000),
        "lost": report(lost_total=60),
        "burst": report(max_burst=200, lost_total=40),
        "delay": report(jitter_ms=5000),
    }
    for reason, bad in cases.items():
        assert ReportGate(2.0).check("R", "S", sending(50), bad, 2.0) == reason, reason


def test_counters_that_go_backwards_are_refused_and_the_next_report_measured_from_there():
    gate, state = ReportGate(2.0), sending(50)
    assert gate.check("R", "S", state, report(concealed_total=40), 2.0) is None
    assert gate.check("R", "S", state, report(concealed_total=0), 3.0) == "went-backwards"
    # alternating 0 / big no longer lets one report claim the whole call's worth
    assert gate.check("R", "S", state, report(concealed_total=1000), 4.0) == "frames"
    assert gate.check("R", "S", state, report(concealed_total=50), 5.0) is None


def test_forgetting_a_participant_drops_its_streams():
    gate, state = ReportGate(2.0), sending(50)
    gate.check("R", "S", state, report(), 2.0)
    assert len(gate) == 1
    gate.forget("S")
    assert len(gate) == 0


@settings(max_examples=400, deadline=None)
@given(st.binary(min_size=REPORT_SIZE, max_size=REPORT_SIZE), st.floats(0, 1e6))
def test_any_wire_report_is_judged_without_an_exception(data, now):
    try:
        parsed = parse_report(bytes([0x41]) + data[1:7] + b"\0" + data[8:])
    except ValueError:
        return
    reason = ReportGate(2.0).check("R", "S", sending(50), parsed, now)
    assert reason is None or isinstance(reason, str)
