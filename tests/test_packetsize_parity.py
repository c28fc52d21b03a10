"""The page's sender (web/js/packetsize.js, packetizer.js) decides as the Python one does
(transport.packetsize, transport.packetizer, wired as client/call.py wires them): the same
receiver reports, after the same frames, give the same frames per packet, redundancy and cap
after every report, and the same packets byte for byte. Scenarios: a clean link, receiver caps
(one that lifts), the sender's own cap, sustained overload then recovery, bursty loss whose cut
is undone and then held, a queue that grows (a narrow link) then drains, probes held under the
rate that overran it, queueing delay turned off, several receivers, version 1 (at most 4
frames), and random mixes with frames of varying size (non-integer mean frame sizes: Python
rounds halves to even) and reports with and without queueing delay."""
from __future__ import annotations

import json
import random
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from transport.packet import VERSION, VERSION_3, max_primary
from transport.packetizer import DtxConfig, Packetizer, PacketizerConfig
from transport.packetsize import PacketSizer, SizeConfig, follow_report, most_frames
from transport.report import ReceiverReport, parse_report

ROOT = Path(__file__).resolve().parent.parent
NODE = shutil.which("node")
REPLAY = ROOT / "tests" / "js" / "packetsize-replay.mjs"
FRAMES_PER_REPORT = 50  # one report a second, 20 ms frames


@dataclass
class Case:
    """One sender: its sizing and packing settings and a sequence of (frames, report) steps."""

    name: str
    max_bitrate: float | None = None
    jitter_distress_ms: float | None = None
    queue_distress_ms: float | None = 100.0
    start: int | None = None
    version: int = VERSION_3
    dtx: bool = True
    redundancy: int = 8
    parity: int = 0  # XOR parity over this many packets (0: none)
    frame_bytes: float = 2.0  # what the sender plans with before it has seen frames
    steps: list[tuple[list[tuple[bytes, bool, bool, int]], ReceiverReport, int]] = field(default_factory=list)

    def size_config(self) -> SizeConfig:
        return SizeConfig(max_bitrate=self.max_bitrate, jitter_distress_ms=self.jitter_distress_ms,
                          queue_distress_ms=self.queue_distress_ms, start=self.start, most=max(2, most_frames(20.0, max_primary(self.version))))

    def packetizer_config(self) -> PacketizerConfig:
        return PacketizerConfig(payload_type=1, sender=3, redundancy=self.redundancy, version=self.version,
                                parity_packets=self.parity, dtx=DtxConfig() if self.dtx else None)

    def to_json(self) -> dict:
        s, p, dtx = self.size_config(), self.packetizer_config(), DtxConfig()
        return {
            "config": {"frameMs": s.frame_ms, "base": s.base, "most": s.most, "maxBitrate": s.max_bitrate,
                       "jitterDistressMs": s.jitter_distress_ms, "queueDistressMs": s.queue_distress_ms,
                       "risingTrend": s.rising_trend, "start": s.start},
            "packetizer": {"payloadType": p.payload_type, "sender": p.sender, "framesPerPacket": p.frames_per_packet,
                           "redundancy": p.redundancy, "parityPackets": p.parity_packets, "version": p.version,
                           "dtx": {"hangover": dtx.hangover, "keepalive": dtx.keepalive, "onset": dtx.onset}
                           if p.dtx else None},
            "frameBytes": self.frame_bytes,
            "steps": [{"frames": [[f.hex(), q, sp, lv] for f, q, sp, lv in frames], "report": r.to_bytes().hex(),
                       "receivers": n} for frames, r, n in self.steps],
        }


def python_replay(case: Case) -> list[dict]:
    """The Python sender through the case, wired as client/call.py wires it."""
    sizer, pk = PacketSizer(case.size_config()), Packetizer(case.packetizer_config())
    pk.frames_per_packet, pk.redundancy = sizer.plan(case.frame_bytes, pk.redundancy)
    out = []
    for frames, report, receivers in case.steps:
        packets = [p for f, quiet, speech, level in frames for p in pk.push(f, quiet, speech, level)]
        report = parse_report(report.to_bytes())  # quantized, as it arrives
        follow_report(sizer, pk, report, case.frame_bytes, receivers)
        out.append({"packets": [p.hex() for p in packets], "size": [pk.frames_per_packet, pk.redundancy],
                    "cap": sizer.cap_bps})
    return out


# ---- scenarios -----------------------------------------------------------------------------------

class Talk:
    """Frames of a talker: ``speech`` frames, then ``pause`` silent ones, repeated; frame sizes
    from ``sizes`` in turn."""

    def __init__(self, speech: int = 200, pause: int = 0, sizes: tuple[int, ...] = (2,)) -> None:
        self.speech, self.pause, self.sizes, self.i = speech, pause, sizes, 0

    def second(self) -> list[tuple[bytes, bool, bool, int]]:
        out = []
        for _ in range(FRAMES_PER_REPORT):
            i, self.i = self.i, self.i + 1
            n = self.sizes[i % len(self.sizes)]
            speech = i % (self.speech + self.pause) < self.speech
            out.append((bytes((i * 7 + k) & 0xFF for k in range(n)), not speech, speech, 60))
        return out


def report(loss: float = 0.0, residual: float = 0.0, burst: int = 0, kbps: int = 0, jitter: float = 0.0,
           seq: int = 0, queue: float | None = None, trend: float = 0.0) -> ReceiverReport:
    """A report; with ``queue`` (ms) and ``trend`` (ms/s) a type-2 one, with queueing delay."""
    return ReceiverReport(sender=3, highest_seq=seq % 65536, loss_fraction=loss, residual_loss=residual,
                          max_burst=burst, max_kbps=kbps, jitter_ms=jitter, queue_delay_ms=queue,
                          delay_trend=None if queue is None else trend)


def scripted(name: str, reports: list[ReceiverReport | tuple[ReceiverReport, int]], talk: Talk | None = None,
             **settings) -> Case:
    talk = talk or Talk()
    case = Case(name, **settings)
    for r in reports:
        r, receivers = r if isinstance(r, tuple) else (r, 1)
        case.steps.append((talk.second(), r, receivers))
    return case


CLEAN, OVERLOADED = report(), report(0.6, 0.2, 6)
BURSTY = report(0.45, 0.08, 4)
EMPTY = report(0.1, 0, 1, queue=4, trend=1)  # 10 % random loss, no queue
FILLING = report(0.12, 0.2, 2, queue=300, trend=450)  # a narrow link: the queue grows fast


def scenarios() -> list[Case]:
    cases = [
        scripted("clean link", [CLEAN] * 20),
        scripted("clean link, talk and pauses", [CLEAN] * 20, Talk(120, 80)),
        scripted("a receiver's cap", [report(kbps=12)] * 12),
        scripted("a receiver's cap that lifts", [report(kbps=12)] * 8 + [CLEAN] * 8 + [report(kbps=23)] * 4),
        scripted("a cap too low for any redundancy", [report(kbps=5)] * 6 + [report(0.2, 0.05, 3, kbps=5)] * 4),
        scripted("own cap", [CLEAN] * 6 + [report(0.1, 0, 2)] * 6, max_bitrate=12000),
        scripted("own cap under a receiver's", [report(kbps=16)] * 6, max_bitrate=14000),
        scripted("sustained overload, then recovery",
                 [OVERLOADED] * 6 + [report(0.05, 0, 1)] * 3 + [CLEAN] * 40),
        scripted("overload again right after a rise",
                 [OVERLOADED] * 5 + [CLEAN] * 5 + [OVERLOADED] * 4 + [CLEAN] * 30),
        scripted("bursty loss: the cut is undone, then held",
                 [BURSTY] * 18 + [CLEAN] * 3 + [BURSTY] * 30),
        scripted("heavy loss redundancy repairs", [report(0.3, 0.004, 3)] * 15),
        scripted("a narrow link: the queue fills, drains, probes stay under it",
                 [FILLING, report(0.1, 0.5, 2, queue=550, trend=100)] + [report(0.1, 0, 1, queue=q, trend=-300)
                                                                         for q in (400, 200)] + [EMPTY] * 40),
        scripted("a probe that overruns the link again", [FILLING] + [EMPTY] * 12 + [report(0.1, 0.1, 2, queue=150,
                 trend=200)] + [EMPTY] * 30),
        scripted("a standing queue, then one that comes and goes",
                 [report(0.1, 0, 1, queue=200, trend=0)] * 4 + [EMPTY] * 8
                 + [report(0.1, 0, 1, queue=120 * (k % 2), trend=-40) for k in range(10)]),
        scripted("random loss and jitter, no queue", [report(0.38, 0.06, 4, queue=40 + 30 * (k % 2),
                                                            trend=(-1) ** k * 150) for k in range(15)]),
        scripted("queueing delay off", [FILLING] * 6, queue_distress_ms=None),
        scripted("a slow start on a clean link", [EMPTY] * 20, start=4),
        scripted("a slow start on a narrow link", [EMPTY] * 5 + [FILLING] + [EMPTY] * 20, start=4),
        scripted("a slow start and a receiver's cap", [report(kbps=12)] * 4 + [CLEAN] * 12, start=3),
        scripted("a probe's smaller queue", [FILLING] + [EMPTY] * 7 + [report(0.1, 0, 1, queue=60, trend=60)]
                 + [EMPTY] * 8 + [report(0.1, 0, 1, queue=60, trend=60)] * 2),
        scripted("at the thresholds", [report(0.1, 0, 1, queue=200, trend=-30)] * 3 + [EMPTY]
                 + [report(0.1, 0, 1, queue=99, trend=100), report(0.1, 0, 1, queue=100, trend=99.9),
                    report(0.1, 0, 1, queue=100, trend=100)] + [EMPTY] * 6),
        scripted("old and new reports mixed", [FILLING, CLEAN, OVERLOADED, EMPTY] * 5),
        scripted("jitter", [report(jitter=90)] * 5 + [CLEAN] * 12, jitter_distress_ms=80.0),
        scripted("two receivers, one capped", [(report(kbps=12), 2), (CLEAN, 2)] * 6 + [(CLEAN, 2)] * 4),
        scripted("three receivers, one lossy",
                 [(report(0.5, 0.1, 8), 3), (CLEAN, 3), (report(kbps=20), 3)] * 6),
        scripted("version 1: at most 4 frames", [report(kbps=12)] * 4 + [OVERLOADED] * 8 + [CLEAN] * 12,
                 version=VERSION, dtx=False),
        scripted("no DTX, odd frame sizes under a cap", [report(kbps=14)] * 10, Talk(sizes=(2, 3, 2, 1, 3)),
                 dtx=False, frame_bytes=2.2),
        scripted("parity groups across size changes", [report(kbps=12)] * 3 + [CLEAN] * 3 + [report(kbps=20)] * 3
                 + [OVERLOADED] * 6 + [CLEAN] * 10, Talk(90, 25), parity=3),
    ]
    rng = random.Random(18)
    for k in range(24):
        case = Case(f"random {k}", max_bitrate=rng.choice([None, None, 9000.0, 12000.0, 20000.0]),
                    jitter_distress_ms=rng.choice([None, None, 60.0]),
                    queue_distress_ms=rng.choice([100.0, 100.0, 60.0, None]), start=rng.choice([None, 3, 4]),
                    version=rng.choice([VERSION_3] * 3 + [VERSION]),
                    redundancy=rng.choice([2, 4, 8]), frame_bytes=rng.choice([1.0, 2.0, 2.5]))
        case.dtx = case.version == VERSION_3 and rng.random() < 0.7
        talk = Talk(rng.randint(20, 300), rng.choice([0, 30, 120]), rng.choice([(2,), (1,), (2, 3), (1, 2, 2, 3)]))
        receivers, state = rng.choice([1, 1, 2, 3]), "clean"
        for seq in range(rng.randint(20, 60)):
            state = rng.choices(["clean", "lossy", "overloaded", "capped", "queued"], [6, 2, 2, 1, 2])[0] \
                if rng.random() < 0.25 else state
            loss = {"clean": 0.0, "lossy": rng.uniform(0.05, 0.45), "overloaded": rng.uniform(0.35, 0.8),
                    "capped": rng.uniform(0, 0.05), "queued": rng.uniform(0, 0.3)}[state]
            queue = None if rng.random() < 0.2 else rng.uniform(80, 900) if state == "queued" \
                else rng.uniform(0, 120)
            residual = 0.0 if state == "clean" else rng.uniform(0, loss / 2)
            r = report(loss, residual, rng.randint(0, 10) if loss else 0,
                       rng.choice([8, 12, 16, 30]) if state == "capped" or rng.random() < 0.05 else 0,
                       rng.uniform(0, 120), seq, queue, rng.uniform(-400, 700))
            case.steps.append((talk.second(), r, receivers))
        cases.append(case)
    return cases


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_page_sizes_and_packs_as_python_does() -> None:
    cases = scenarios()
    result = subprocess.run([NODE, str(REPLAY)], input=json.dumps({"cases": [c.to_json() for c in cases]}),
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr[-4000:]
    js = json.loads(result.stdout)
    assert len(js) == len(cases)
    for case, got in zip(cases, js):
        want = python_replay(case)
        for i, (w, g) in enumerate(zip(want, got)):
            report_i = parse_report(case.steps[i][1].to_bytes())
            where = f"{case.name}, after report {i} ({report_i})"
            assert g["size"] == w["size"] and g["cap"] == w["cap"], \
                f"{where}: JS {g['size']} cap {g['cap']}, Python {w['size']} cap {w['cap']}"
            assert g["packets"] == w["packets"], f"{where}: the packets differ"
        assert len(got) == len(want)


def test_the_scenarios_reach_every_branch() -> None:
    """The scenarios are worth comparing: caps bite, overloads cut, a cut is undone, caps lift."""
    outcomes = {case.name: python_replay(case) for case in scenarios()}
    sizes = [s["size"][0] for run in outcomes.values() for s in run]
    assert max(sizes) == 8 and min(sizes) == 2 and 4 in sizes
    assert outcomes["a receiver's cap that lifts"][-1]["size"][0] == 4  # 23 kbit/s: 4 frames
    assert outcomes["a receiver's cap that lifts"][12]["size"][0] == 2
    assert outcomes["a cap too low for any redundancy"][0]["size"] == [8, 0]
    overload = [s["size"][0] for s in outcomes["sustained overload, then recovery"]]
    assert max(overload) > 2 and overload[-1] == 2  # cut, then probed back to the base size
    bursty = [s["cap"] for s in outcomes["bursty loss: the cut is undone, then held"]]
    assert any(c is not None for c in bursty) and bursty[-1] is None
    assert max(s["size"][0] for s in outcomes["version 1: at most 4 frames"]) == 4
    narrow = [s["size"][0] for s in outcomes["a narrow link: the queue fills, drains, probes stay under it"]]
    assert narrow[0] > 2 and min(narrow[1:]) == narrow[-1] < narrow[0] and max(narrow[5:]) > 2  # never back to 2
    again = outcomes["a probe that overruns the link again"]
    assert again[13]["size"][0] > again[12]["size"][0]  # cut again
    assert all(s["cap"] is None for s in outcomes["random loss and jitter, no queue"])
    assert all(s["size"][0] == 2 for s in outcomes["queueing delay off"])
    slow = [s["size"][0] for s in outcomes["a slow start on a clean link"]]
    assert slow[0] == 4 and slow[-1] == 2 and slow == sorted(slow, reverse=True)
    narrow = [s["size"][0] for s in outcomes["a slow start on a narrow link"]]
    assert narrow[5] > narrow[4] and narrow[-1] > 2
    probe = [s["size"][0] for s in outcomes["a probe's smaller queue"]]
    assert probe[8] > probe[7] and probe[-1] == probe[-3]  # 60 ms counts right after a rise, not later
    at = [s["size"][0] for s in outcomes["at the thresholds"]]
    assert at[:6] == [2] * 6 and at[6] > 2  # -30 ms/s is draining; 100 ms growing 100 ms/s is overuse
