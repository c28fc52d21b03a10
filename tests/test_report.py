"""Receiver report format: vectors, errors, quantization."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transport.packet import PacketError
from transport.report import REPORT_SIZE, REPORT_SIZE_DELAY, ReceiverReport, parse_report

VECTORS = json.loads((Path(__file__).parent / "vectors" / "reports.json").read_text())


@pytest.mark.parametrize("case", VECTORS["valid"])
def test_vector_round_trip(case: dict) -> None:
    report = ReceiverReport(**case["fields"])
    data = bytes.fromhex(case["hex"])
    assert report.to_bytes() == data
    assert parse_report(data) == report


@pytest.mark.parametrize("case", VECTORS["invalid"], ids=lambda c: c["name"])
def test_vector_rejected(case: dict) -> None:
    with pytest.raises(PacketError, match=case["error"]):
        parse_report(bytes.fromhex(case["hex"]))


def test_quantization_and_saturation() -> None:
    r = ReceiverReport(sender=1, highest_seq=5, loss_fraction=1.0, residual_loss=0.1, max_burst=999,
                       jitter_ms=9999.0, playout_delay_ms=-3, recovered=70000, lost_total=2 ** 40)
    back = parse_report(r.to_bytes())
    assert back.loss_fraction == 255 / 256 and back.residual_loss == 25 / 256
    assert (back.max_burst, back.jitter_ms, back.playout_delay_ms) == (255, 6553.5, 0)
    assert (back.recovered, back.lost_total) == (0xFFFF, 0xFFFFFFFF)


@pytest.mark.parametrize("kwargs, message", [
    (dict(sender=300), "sender id 300"), (dict(highest_seq=-1), "sequence number"),
    (dict(loss_fraction=1.5), "loss_fraction"), (dict(residual_loss=-0.1), "residual_loss"),
    (dict(queue_delay_ms=5.0), "both or neither"), (dict(delay_trend=1.0), "both or neither"),
    (dict(queue_delay_ms=-1.0, delay_trend=0.0), "non-negative"),
    (dict(queue_delay_ms=float("nan"), delay_trend=0.0), "non-negative"),
])
def test_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(PacketError, match=message):
        ReceiverReport(**(dict(sender=0, highest_seq=0) | kwargs))


def test_queueing_delay_quantization_and_saturation() -> None:
    r = ReceiverReport(sender=1, highest_seq=5, queue_delay_ms=1e9, delay_trend=-1e9)
    assert r.to_bytes()[0] == 0x42 and len(r.to_bytes()) == REPORT_SIZE_DELAY
    back = parse_report(r.to_bytes())
    assert (back.queue_delay_ms, back.delay_trend) == (0xFFFF, -3276.8)
    back = parse_report(ReceiverReport(1, 5, queue_delay_ms=12.4, delay_trend=0.26).to_bytes())
    assert (back.queue_delay_ms, back.delay_trend) == (12, 0.3)
    assert len(ReceiverReport(1, 5).to_bytes()) == REPORT_SIZE  # nothing measured: type 1


@settings(max_examples=300, deadline=None)
@given(st.tuples(st.sampled_from([0x40, 0x41, 0x42, 0x43, 0x81]),
                 st.binary(min_size=REPORT_SIZE - 2, max_size=REPORT_SIZE_DELAY)).map(lambda t: bytes([t[0]]) + t[1]))
def test_arbitrary_bytes(data: bytes) -> None:
    try:
        report = parse_report(data)
    except PacketError:
        return
    assert report.to_bytes() == data
