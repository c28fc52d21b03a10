"""Jitter buffer: ordering, loss recovery, adaptation, drift, wrap-around — fake clocks only."""
from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transport.impairment import Impairment
from transport.jitterbuffer import MISSING, JitterBuffer, JitterBufferConfig
from transport.packet import SEQ_MOD, TS_MOD, Packet, PacketError
from transport.packetizer import Packetizer, PacketizerConfig

FRAME = 0.02


def frame(i: int) -> bytes:
    return i.to_bytes(4, "big")


def sent(n_frames: int, cfg: PacketizerConfig | None = None, period: float = FRAME,
         quiet=lambda i: False) -> list[tuple[float, bytes]]:
    """(send time, packet): a packet leaves when its last frame is complete."""
    p = Packetizer(cfg or PacketizerConfig(payload_type=1))
    out = []
    for i in range(n_frames):
        out += [((i + 1) * period, b) for b in p.push(frame(i), quiet=quiet(i))]
    return out


def drive(jb: JitterBuffer, arrivals: list[tuple[float, bytes]], pops: int,
          last: int | None = None, phase: float = 0.0005) -> list:
    """Push each packet at its arrival time; pop every 20 ms (stopping once frame ``last``
    comes out, as a call would end); return what pop gave."""
    arrivals = sorted(arrivals, key=lambda a: a[0])
    out, k = [], 0
    for j in range(pops):
        now = j * FRAME + phase
        while k < len(arrivals) and arrivals[k][0] <= now:
            jb.push(arrivals[k][1], arrivals[k][0])
            k += 1
        out.append(jb.pop(now))
        if last is not None and out[-1] == frame(last):
            break
    return out


def played(out: list) -> list[int]:
    return [int.from_bytes(f, "big") for f in out if f]


def check_order(out: list) -> None:
    """Strictly increasing frames; once playout starts, no pop returns None."""
    got = played(out)
    assert got == sorted(set(got))
    start = next(i for i, f in enumerate(out) if f is not None)
    assert all(f is not None for f in out[start:])


def test_clean_stream_plays_every_frame_in_order() -> None:
    jb = JitterBuffer()
    out = drive(jb, [(t + 0.03, b) for t, b in sent(200)], 210, last=199)
    assert out[0] is None  # buffering the initial delay
    check_order(out)
    assert played(out) == list(range(200))
    last = max(i for i, f in enumerate(out) if f)
    assert MISSING not in out[:last]
    s = jb.stats
    assert (s.packets_received, s.packets_lost, s.frames_inserted) == (100, 0, 0)
    assert s.frames_played == 200 and s.jitter_ms == pytest.approx(0, abs=1e-6)


def test_reordered_and_duplicated_packets() -> None:
    packets = sent(40, PacketizerConfig(payload_type=1, redundancy=0))
    arrivals = [(t + 0.03, b) for t, b in packets]
    arrivals[5] = (arrivals[5][0] + 0.05, arrivals[5][1])  # overtaken by the next two
    arrivals.append((arrivals[9][0] + 0.001, arrivals[9][1]))
    jb = JitterBuffer()
    out = drive(jb, arrivals, 80, last=39)
    check_order(out)
    assert played(out) == list(range(40))
    assert jb.stats.packets_duplicate == 1 and jb.stats.packets_received == 20


def test_lost_packet_recovered_from_redundancy() -> None:
    packets = sent(40)
    del packets[7]  # frames 14, 15
    jb = JitterBuffer()
    out = drive(jb, [(t + 0.03, b) for t, b in packets], 80, last=39)
    assert played(out) == list(range(40))
    s = jb.stats
    assert (s.frames_recovered_redundancy, s.packets_lost, s.frames_concealed) == (2, 1, 0)


def test_lost_packet_recovered_from_parity() -> None:
    cfg = PacketizerConfig(payload_type=1, redundancy=0, parity_packets=2)
    packets = sent(40, cfg)
    del packets[4]  # frames 8, 9: group = packets 4, 5; parity rides on packet 6
    jb = JitterBuffer(JitterBufferConfig(min_delay_ms=100, initial_delay_ms=100))
    out = drive(jb, [(t + 0.03, b) for t, b in packets], 80, last=39)
    assert played(out) == list(range(40))
    assert jb.stats.frames_recovered_parity == 2


def test_unrecoverable_burst_reports_its_length() -> None:
    packets = sent(60, PacketizerConfig(payload_type=1, redundancy=0))
    del packets[10:13]  # frames 20..25
    jb = JitterBuffer(JitterBufferConfig(initial_delay_ms=40))
    out, runs = [], []
    for j in range(90):
        now = j * FRAME + 0.0005
        for t, b in packets:
            if now - FRAME < t + 0.03 <= now:
                jb.push(b, t + 0.03)
        out.append(jb.pop(now))
        runs.append(jb.missing_run)
        if out[-1] == frame(59):
            break
    check_order(out)
    assert played(out) == [i for i in range(60) if not 20 <= i < 26]
    s = jb.stats
    # each lost frame is concealed or skipped (a free drop); waiting adds inserted ones
    assert s.frames_concealed + s.frames_dropped == 6 and s.frames_concealed >= 3
    assert max(runs) == s.max_missing_run == s.frames_concealed + s.frames_inserted
    assert (s.concealment_bursts, s.packets_lost) == (1, 3)


def test_late_packet_counted_and_not_played() -> None:
    packets = sent(40, PacketizerConfig(payload_type=1, redundancy=0))
    arrivals = [(t + 0.03, b) for t, b in packets]
    arrivals[8] = (arrivals[8][0] + 0.5, arrivals[8][1])  # frames 16, 17 arrive 500 ms late
    jb = JitterBuffer(JitterBufferConfig(initial_delay_ms=40, max_delay_ms=100, resync_ms=1000))
    out = drive(jb, arrivals, 80)
    check_order(out)
    assert 16 not in played(out) and 17 not in played(out)
    assert jb.stats.packets_late == 1


@pytest.mark.parametrize("first_seq, first_ts", [(SEQ_MOD - 30, TS_MOD - 41), (SEQ_MOD - 1, TS_MOD - 2)])
def test_sequence_and_timestamp_wrap_around(first_seq: int, first_ts: int) -> None:
    cfg = PacketizerConfig(payload_type=1, first_seq=first_seq, first_timestamp=first_ts)
    packets = sent(200, cfg)
    del packets[30]
    jb = JitterBuffer()
    out = drive(jb, [(t + 0.03, b) for t, b in packets], 260, last=199)
    assert played(out) == list(range(200))
    assert jb.stats.packets_lost == 1 and jb.stats.resyncs == 0


def test_residual_loss_at_20_percent_random_loss_is_below_1_percent() -> None:
    n = 15000
    imp = Impairment("delay 30ms 10ms loss random 20%", seed=7)
    jb = JitterBuffer()
    out = drive(jb, imp.apply(sent(n)), n + 20)
    check_order(out)
    residual = 1 - len(played(out)) / n
    assert 0.17 < imp.stats.dropped / imp.stats.packets < 0.23
    assert residual <= 0.01, jb.stats
    assert jb.stats.frames_recovered_redundancy > 0.15 * n
    assert 20 <= jb.stats.target_delay_ms <= 200


def test_target_follows_jitter_within_bounds() -> None:
    def target(spec: str) -> tuple[float, float, float]:
        jb = JitterBuffer()
        n = 3000
        out = drive(jb, Impairment(spec, seed=3).apply(sent(n)), n + 20, last=n - 1)
        check_order(out)
        s = jb.stats
        return s.target_delay_ms, 1 - len(played(out)) / n, s.current_delay_ms

    calm, calm_loss, calm_now = target("delay 30ms")
    rough, rough_loss, _ = target("delay 80ms 60ms")
    wild, _, _ = target("delay 300ms 250ms")
    assert 20 <= calm <= 22  # packetization (20 ms) and the 1 ms histogram bin
    assert calm + 60 < rough <= 200
    assert wild == 200  # bounded by max_delay_ms
    # the 60 ms start settles to the target without quiet hints (patience: 2 frames dropped)
    assert calm_now < calm + 20 and round(calm_loss * 3000) <= 2
    assert rough_loss < 0.01


@pytest.mark.parametrize("drift", [0.01, -0.01])
def test_clock_drift_is_absorbed_at_quiet_frames(drift: float) -> None:
    n = 4000  # 80 s; 1 % drift = 800 ms, far beyond the buffer
    quiet = lambda i: i % 50 < 10  # noqa: E731 - 200 ms pauses every second
    packets = sent(n, period=FRAME * (1 + drift), quiet=quiet)
    jb = JitterBuffer()
    out = drive(jb, [(t + 0.03, b) for t, b in packets], int(n * (1 + drift)) + 20, last=n - 1)
    check_order(out)
    s = jb.stats
    if drift > 0:  # sender slower: the receiver must insert ~40 frames
        assert 30 <= s.frames_inserted <= 60 and s.frames_dropped <= 5
    else:
        assert 30 <= s.frames_dropped <= 60 and s.frames_inserted <= 5
    assert s.frames_concealed <= 5
    dropped = set(range(n)) - set(played(out))
    assert sum(quiet(i) for i in dropped) >= 0.9 * len(dropped)


def test_drift_without_quiet_hints_is_forced_within_bounds() -> None:
    n = 3000
    packets = sent(n, period=FRAME * 0.98)
    jb = JitterBuffer()
    out = drive(jb, [(t + 0.03, b) for t, b in packets], int(n * 0.98))
    check_order(out)
    assert jb.stats.current_delay_ms <= jb.config.force_ms + 2 * 20
    assert jb.stats.frames_dropped >= 40


def test_stream_restart_resyncs_without_stalling() -> None:
    a = sent(100)
    b = [(t + 2.0, data) for t, data in sent(100, PacketizerConfig(payload_type=1, first_seq=500,
                                                                   first_timestamp=900_000))]
    jb = JitterBuffer()
    out = drive(jb, [(t + 0.03, x) for t, x in a + b], 220)
    first = played(out)[:100]
    assert first == list(range(100))
    second = played(out)[100:]
    # the first two far-away packets are taken for strays; the third restarts playout
    assert second == list(range(4, 100))
    start = next(i for i, f in enumerate(out) if f is not None)
    assert all(f is not None for f in out[start:])
    assert jb.stats.resyncs == 1


def test_a_sequence_jump_without_a_timestamp_jump_restarts_the_loss_count() -> None:
    """A sender whose sequence numbers leap (a bug, or an attack) while its timestamps run on:
    two stray packets are ignored, then counting starts over instead of reporting the leap
    as tens of thousands of lost packets."""
    jb = JitterBuffer()
    packets = [Packet(1, seq=(i if i < 50 else 30_000 + i) % SEQ_MOD, timestamp=2 * i, sender=1,
                      frames=(frame(2 * i), frame(2 * i + 1))).to_bytes() for i in range(100)]
    out = drive(jb, [((i + 1) * 0.04 + 0.03, p) for i, p in enumerate(packets)], 210)
    assert jb.stats.packets_lost == 0 and jb.stats.packets_received == 98
    assert jb.report(1).max_burst == 0
    assert played(out)[:100] == list(range(100))  # the two ignored packets' frames (100-103) are concealed
    assert played(out)[100:102] == [104, 105]
    lone = JitterBuffer()
    lone.push(packets[0], 0.0)
    assert not lone.push(Packet(1, 40_000, 2, 1, frames=(frame(2),)).to_bytes(), 0.01)  # one stray: ignored
    assert lone.stats.packets_received == 1 and lone.stats.packets_lost == 0


def test_malformed_bytes_raise_packet_error() -> None:
    jb = JitterBuffer()
    with pytest.raises(PacketError):
        jb.push(b"\x41\x00", 0.0)
    assert jb.pop(1.0) is None


def test_report_covers_the_interval() -> None:
    packets = sent(200, PacketizerConfig(payload_type=1, redundancy=0))
    del packets[40:43]
    jb = JitterBuffer()
    drive(jb, [(t + 0.03, b) for t, b in packets], 120)
    r1 = jb.report(sender=4)
    assert r1.sender == 4 and r1.max_burst == 3 and r1.lost_total == 3
    assert r1.loss_fraction == pytest.approx(3 / 59, abs=0.01)
    s = jb.stats
    assert r1.residual_loss == pytest.approx(s.frames_concealed / (s.frames_played + s.frames_concealed), abs=0.004)
    assert r1.residual_loss > 0 and r1.recovered == 0
    r2 = jb.report(sender=4)
    assert (r2.max_burst, r2.loss_fraction, r2.residual_loss) == (0, 0.0, 0.0)
    assert parse_report_round_trip(r1)


def test_report_carries_the_queueing_delay_of_its_interval() -> None:
    """Packets that wait longer and longer (a queue filling at 0.2 s a second) give a report
    of type 2 with the queue and its growth; an interval without packets gives type 1."""
    packets = sent(100, PacketizerConfig(payload_type=1, frames_per_packet=2))
    jb = JitterBuffer()
    drive(jb, [(t + 0.03 + 0.2 * t, b) for t, b in packets], 120)
    r = jb.report(sender=4)
    # (the trend is per second of arrival time: 0.2 / 1.2)
    assert r.queue_delay_ms == pytest.approx(200, abs=25) and r.delay_trend == pytest.approx(166.7, abs=1)
    assert len(r.to_bytes()) == 28 and parse_report_round_trip(r)
    r = jb.report(sender=4)
    assert r.queue_delay_ms is None and r.delay_trend is None and len(r.to_bytes()) == 24


def parse_report_round_trip(r) -> bool:
    from transport.report import parse_report
    return parse_report(r.to_bytes()).to_bytes() == r.to_bytes()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 16), loss=st.integers(0, 60), dup=st.integers(0, 20),
       jitter=st.integers(0, 120), redundancy=st.integers(0, 8), parity=st.integers(0, 3),
       fpp=st.integers(1, 4))
def test_never_out_of_order_never_stalls(seed: int, loss: int, dup: int, jitter: int,
                                         redundancy: int, parity: int, fpp: int) -> None:
    spec = f"delay {jitter + 10}ms {jitter}ms loss {loss}% duplicate {dup}%"
    if jitter:
        spec += " reorder 10%"
    cfg = PacketizerConfig(payload_type=1, frames_per_packet=fpp, redundancy=redundancy,
                           parity_packets=parity)
    arrivals = Impairment(spec, seed=seed).apply(sent(300, cfg))
    jb = JitterBuffer()
    out = drive(jb, arrivals, 330)
    if any(f is not None for f in out):
        check_order(out)
    s = jb.stats
    assert s.frames_played == len(played(out))
    assert 0 <= s.target_delay_ms <= 200


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, SEQ_MOD - 1), st.integers(0, TS_MOD - 1),
                          st.integers(1, 4), st.integers(0, 15), st.floats(0, 0.2)),
                min_size=1, max_size=60))
def test_arbitrary_packet_streams_never_break_playout(packets: list) -> None:
    """Random sequence numbers and timestamps (jumps, wraps, repeats): no exception, and
    once started every pop returns a frame or MISSING, in increasing order."""
    jb = JitterBuffer()
    out, now = [], 0.0
    for seq, ts, n, r, gap in packets:
        jb.push(Packet(1, seq, ts, 0, tuple(frame((ts + i) % TS_MOD) for i in range(n)),
                       tuple(frame((ts - r + i) % TS_MOD) for i in range(r))), now)
        for _ in range(int(gap / FRAME)):
            out.append(jb.pop(now))
            now += FRAME
    out += [jb.pop(now + k * FRAME) for k in range(20)]
    start = next((i for i, f in enumerate(out) if f is not None), len(out))
    assert all(f is not None for f in out[start:])
    assert jb.stats.frames_played == sum(1 for f in out if f)


def test_missing_is_a_falsy_singleton() -> None:
    assert not MISSING and repr(MISSING) == "MISSING"
    assert type(MISSING)() is MISSING


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="initial_delay_ms"):
        JitterBufferConfig(initial_delay_ms=500)
    with pytest.raises(ValueError, match="min_delay_ms"):
        JitterBufferConfig(min_delay_ms=300)
    random.seed(0)


def test_push_says_whether_the_packet_was_new() -> None:
    """A duplicate (e.g. the sender's repeated final packet) is reported as bringing nothing."""
    (t0, first), (t1, second) = sent(4, PacketizerConfig(payload_type=1, redundancy=0))[:2]
    jb = JitterBuffer()
    assert jb.push(first, t0) and jb.push(second, t1)
    assert not jb.push(first, t1 + 0.01)
    assert jb.stats.packets_duplicate == 1 and jb.stats.packets_received == 2


def test_a_pause_plays_comfort_noise_not_concealment_and_speech_ends_it():
    from transport import Comfort, DtxConfig, Packetizer, PacketizerConfig
    from transport.packet import VERSION_3

    pk = Packetizer(PacketizerConfig(payload_type=1, version=VERSION_3, dtx=DtxConfig()))
    sent = []
    for i in range(200):  # speech 0-49, pause 50-149, speech 150-199
        sent += [((i + 1) * 0.02, p) for p in pk.push(bytes([i % 256, 1]), speech=i < 50 or i >= 150, level=48)]
    jb = JitterBuffer(JitterBufferConfig(min_delay_ms=60))
    out, k = [], 0
    for j in range(230):
        now = (j + 0.5) * 0.02
        while k < len(sent) and sent[k][0] <= now:
            jb.push(sent[k][1], sent[k][0])
            k += 1
        frame = jb.pop(now)
        if frame is not None:
            out.append(frame)
        if jb.playout_timestamp >= 200:  # the sender's last frame
            break
    s = jb.stats
    assert s.frames_concealed == 0 and s.keepalives == 5 and s.frames_comfort > 80
    assert all(c == Comfort(-48) for c in out if isinstance(c, Comfort))
    real = [f[0] for f in out if isinstance(f, bytes)]
    assert real[:60] == list(range(60))  # speech and its 200 ms hangover
    assert real[60:] == list(range(148, 200))  # 40 ms of held-back frames still play, then speech
    assert not any(isinstance(f, Comfort) for f in out[out.index(bytes([148, 1])):])


def test_keepalives_heard_before_playout_starts_do_not_turn_a_late_packet_into_comfort_noise():
    """A late joiner's first packets are keep-alives of a pause the speech after them ends;
    remembered past the start of playout, they made the first frame missing in that speech
    (a packet 120 ms late) play comfort noise in mid-speech."""
    from transport import Comfort
    from transport.packet import VERSION_3

    def packet(seq: int, ts: int, frames: tuple[bytes, ...] = (), level: int | None = None) -> bytes:
        return Packet(payload_type=1, seq=seq, timestamp=ts, sender=1, frames=frames, version=VERSION_3,
                      quiet=level is not None, level=level).to_bytes()

    jb = JitterBuffer(JitterBufferConfig(min_delay_ms=60))
    jb.push(packet(0, 100, level=50), 0.0)
    jb.push(packet(1, 120, level=50), 0.4)
    out, seq = [], 2
    for t in range(130, 200):
        now = (t - 100) * FRAME + 0.01
        if t % 2 == 1 and t != 151:
            jb.push(packet(seq, t - 1, (frame(t - 1), frame(t))), now)
            seq += 1
        if t == 158:  # frames 150 and 151, 120 ms late
            jb.push(packet(seq, 150, (frame(150), frame(151))), now)
            seq += 1
        if (got := jb.pop(now)) is not None:
            out.append(got)
    assert not any(isinstance(f, Comfort) for f in out) and jb.stats.frames_comfort == 0
    assert jb.stats.frames_concealed >= 1
