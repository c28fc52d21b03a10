"""Queueing-delay estimator (transport.queuedelay) on synthetic arrivals: a queue filling at a
rate above the link, random jitter, random loss, DTX pauses, frames-per-packet changes,
timestamp wrap, reordering and a sender that restarts; and the page's copy (web/js) on the same."""
from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from transport.packet import TS_MOD
from transport.queuedelay import QueueDelayEstimator

FS = 0.02  # 20 ms frames
ROOT = Path(__file__).resolve().parent.parent


def sender(seconds: float, frames: int = 2, first_ts: int = 0, talk: tuple[int, int] | None = None,
           bytes_per_frame: int = 30, overhead: int = 60):
    """(send time, timestamp mod 2**24, frames, bytes) of a sender packing ``frames`` a packet;
    ``talk`` = (frames of speech, frames of pause): no packets in a pause but one keep-alive."""
    out, ts = [], 0
    while ts * FS < seconds:
        if talk and ts % sum(talk) >= talk[0]:
            if ts % sum(talk) == talk[0]:
                out.append(((ts + 1) * FS, (first_ts + ts) % TS_MOD, 0, overhead))
            ts += 1
            continue
        out.append(((ts + frames) * FS, (first_ts + ts) % TS_MOD, frames, overhead + frames * bytes_per_frame))
        ts += frames
    return out


def link(packets, rate_bps: float | None = None, jitter_s: float = 0.0, loss: float = 0.0,
         delay_s: float = 0.03, seed: int = 1):
    """Arrivals through a FIFO bottleneck at ``rate_bps`` (None: no bottleneck), then random
    jitter and random loss. Returns (arrival, timestamp, frames) sorted by arrival."""
    rng, free, out = random.Random(seed), 0.0, []
    for sent, ts, frames, size in packets:
        leave = sent
        if rate_bps is not None:
            free = max(free, sent) + 8 * size / rate_bps
            leave = free
        if rng.random() < loss:
            continue
        out.append((leave + delay_s + rng.uniform(0, jitter_s), ts, frames))
    return sorted(out)


def reports(arrivals, interval: float = 1.0, estimator: QueueDelayEstimator | None = None):
    """One report a second of receiver time, as the client sends them."""
    est, out, due = estimator or QueueDelayEstimator(), [], arrivals[0][0] + interval
    for arrival, ts, frames in arrivals:
        while arrival >= due:
            out.append(est.report())
            due += interval
        est.packet(arrival, ts, frames)
    out.append(est.report())
    return out


def test_a_queue_filling_above_the_link_rate_shows_growing_delay() -> None:
    # 2 frames of 30 B + 60 B of headers every 40 ms: 24 kbit/s into a 16 kbit/s link.
    got = [r for r in reports(link(sender(8), rate_bps=16000)) if r is not None]
    assert got[1].trend > 300 and got[2].trend > 300  # the queue grows by half a second a second
    assert got[-1].mean_ms > 2000 and all(b.mean_ms > a.mean_ms for a, b in zip(got, got[1:]))


def test_a_link_that_fits_shows_no_queue() -> None:
    got = [r for r in reports(link(sender(10), rate_bps=32000)) if r is not None]
    assert max(r.mean_ms for r in got) < 1 and max(abs(r.trend) for r in got) < 1


def test_random_jitter_and_loss_show_neither_a_queue_nor_a_trend() -> None:
    for seed in range(5):
        got = [r for r in reports(link(sender(30), jitter_s=0.03, loss=0.3, seed=seed)) if r is not None]
        assert max(r.mean_ms for r in got) < 30  # the mean of the jitter above its least value
        assert sum(r.trend for r in got) / len(got) == pytest.approx(0, abs=10)


def test_a_pause_does_not_read_as_a_delay_jump() -> None:
    # Speech 1.2 s, pause 2 s, on a link that fits: the first packet after each pause is on time.
    got = [r for r in reports(link(sender(20, talk=(60, 100)), jitter_s=0.005)) if r is not None]
    assert max(r.mean_ms for r in got) < 6 and max(abs(r.trend) for r in got) < 20


def test_a_pause_drains_the_queue_and_the_estimate_says_so() -> None:
    packets = sender(12, talk=(150, 150))  # 3 s of talk over the link, 3 s of silence
    got = reports(link(packets, rate_bps=16000))
    restart = next(i for i in range(1, len(got)) if got[i] is not None and got[i - 1] is None)
    assert got[2].trend > 300 and got[2].mean_ms > 500  # talk overruns the link
    assert got[restart].mean_ms < got[2].mean_ms / 2  # talk again after the pause: the queue had drained


def test_more_frames_a_packet_is_not_more_delay() -> None:
    two, eight = sender(5, frames=2), sender(5, frames=8)
    later = [(t + 5, ts + 250, n, b) for t, ts, n, b in eight]
    got = [r for r in reports(link(two + later)) if r is not None]
    assert max(r.mean_ms for r in got) < 1 and max(abs(r.trend) for r in got) < 1


def test_timestamps_that_wrap_and_packets_out_of_order() -> None:
    arrivals = link(sender(10, first_ts=TS_MOD - 200), rate_bps=16000)
    for i in range(0, len(arrivals) - 1, 7):  # swap neighbours' arrival order
        (a, ts0, n0), (b, ts1, n1) = arrivals[i], arrivals[i + 1]
        arrivals[i], arrivals[i + 1] = (a, ts1, n1), (b, ts0, n0)
    est = QueueDelayEstimator()
    got = [r for r in reports(arrivals, estimator=est) if r is not None]
    assert est.restarts == 0  # the wrap at 2**24 frames is no restart
    assert got[-1].mean_ms > 2000 and got[-2].trend > 300


def test_a_sender_that_restarts_its_timeline_starts_the_estimate_over() -> None:
    first = link(sender(5))
    second = [(t + 5.0, (ts + 5_000_000) % TS_MOD, n) for t, ts, n in link(sender(5))]
    est = QueueDelayEstimator()
    got = [r for r in reports(first + second, estimator=est) if r is not None]
    assert est.restarts == 1 and max(r.mean_ms for r in got) < 1


def test_no_packets_no_figures() -> None:
    est = QueueDelayEstimator()
    assert est.report() is None
    est.packet(1.0, 0, 2)
    assert est.report() is not None and est.report() is None
    with pytest.raises(ValueError):
        QueueDelayEstimator(frame_ms=0)


NODE = shutil.which("node")
JS = """
import { QueueDelayEstimator } from "./web/js/queuedelay.js";
import { readFileSync } from "node:fs";
const runs = JSON.parse(readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(runs.map((run) => {
  const est = new QueueDelayEstimator();
  const out = [];
  for (const [arrival, ts, frames, report] of run) {
    if (report) out.push(est.report());
    else est.packet(arrival * 1000, ts, frames);
  }
  return { reports: out, restarts: est.restarts };
})));
"""


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_page_estimates_as_python_does() -> None:
    """web/js/queuedelay.js (milliseconds) against this module (seconds) on the arrivals above."""
    sequences = [link(sender(8), rate_bps=16000), link(sender(20, talk=(60, 100)), jitter_s=0.03, loss=0.2),
                 link(sender(10, first_ts=TS_MOD - 200), rate_bps=16000), link(sender(12, talk=(150, 150)), 16000),
                 link(sender(5)) + [(t + 5.0, (ts + 5_000_000) % TS_MOD, n) for t, ts, n in link(sender(5))]]
    runs, want = [], []
    for arrivals in sequences:
        est, run, got, due = QueueDelayEstimator(), [], [], arrivals[0][0] + 1.0
        for arrival, ts, frames in arrivals:
            if arrival >= due:
                run.append((0, 0, 0, True))
                got.append(est.report())
                due += 1.0
            run.append((arrival, ts, frames, False))
            est.packet(arrival, ts, frames)
        runs.append(run)
        want.append((got, est.restarts))
    result = subprocess.run([NODE, "--input-type=module", "-e", JS], input=json.dumps(runs), capture_output=True,
                            text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr[-4000:]
    for (got, restarts), js in zip(want, json.loads(result.stdout)):
        assert js["restarts"] == restarts and len(js["reports"]) == len(got)
        for py, page in zip(got, js["reports"]):
            if py is None:
                assert page is None
                continue
            assert page["samples"] == py.samples
            assert page["meanMs"] == pytest.approx(py.mean_ms, abs=1e-6)
            assert page["trend"] == pytest.approx(py.trend, abs=1e-6)
