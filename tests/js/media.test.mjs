// Packetizer, jitter buffer, resampler and the neural codec's payload, in JavaScript.
import assert from "node:assert/strict";
import { test } from "node:test";

import { FOCAL_MODES, PayloadError, packBits, unpackBits } from "../../web/js/focal-payload.js";
import { JitterBuffer } from "../../web/js/jitter.js";
import { buildPacket, buildReport, packetItems, parsePacket, parseReport } from "../../web/js/packet.js";
import { Packetizer, redundancyFor } from "../../web/js/packetizer.js";
import { PlayoutQueue } from "../../web/js/playout-queue.js";
import { Resampler } from "../../web/js/resample.js";

const frame = (i) => Uint8Array.of(i & 0xff, (i >> 8) & 0xff);
const index = (payload) => payload[0] + 256 * payload[1];

function packets(count, config = {}) {
  const p = new Packetizer({ payloadType: 1, sender: 3, ...config });
  const out = [];
  for (let i = 0; i < count; i++) out.push(...p.push(frame(i), i % 7 === 0).map(parsePacket));
  return out;
}

test("packetizer: two frames per packet, eight redundant, sequence and timestamps", () => {
  const ps = packets(40);
  assert.equal(ps.length, 20);
  ps.forEach((p, k) => {
    assert.equal(p.seq, k);
    assert.equal(p.timestamp, 2 * k);
    assert.equal(p.sender, 3);
    assert.equal(p.redundant.length, Math.min(8, 2 * k));
    for (const [ts, payload] of packetItems(p)) assert.equal(index(payload), ts);
  });
});

test("packetizer: nextTimestamp counts frames, not packets", () => {
  const p = new Packetizer({ payloadType: 1, firstTimestamp: 16777215 });
  assert.equal(p.nextTimestamp, 16777215);
  p.push(frame(0));
  assert.equal(p.nextTimestamp, 0);
  p.push(frame(1));
  assert.equal(p.nextTimestamp, 1);
});

test("packetizer: frames per packet change from the next packet on, timestamps unbroken", () => {
  const p = new Packetizer({ payloadType: 1, sender: 3, version: 3 });
  const out = [];
  for (let i = 0; i < 9; i++) {
    if (i === 3) p.framesPerPacket = 5; // one frame pending: the packet waits for more
    if (i === 5) p.framesPerPacket = 2; // three pending: the next frame closes a packet of four (as Python)
    out.push(...p.push(frame(i)).map(parsePacket));
  }
  assert.deepEqual(out.map((q) => [q.timestamp, q.frames.length]), [[0, 2], [2, 4], [6, 2]]);
  out.forEach((q) => q.frames.forEach((f, k) => assert.equal(index(f), q.timestamp + k)));
  assert.equal(p.meanFrameBytes, 2);
  assert.throws(() => { p.framesPerPacket = 9; }, RangeError);
  assert.throws(() => { new Packetizer({ payloadType: 1 }).framesPerPacket = 5; }, RangeError); // version 1: at most 4
});

test("packetizer: redundancy follows receiver reports", () => {
  const clean = { lossFraction: 0, residualLoss: 0, maxBurst: 0 };
  assert.equal(redundancyFor(clean, 8, 2), 7);
  assert.equal(redundancyFor(clean, 2, 2), 2);
  assert.equal(redundancyFor({ lossFraction: 0.2, residualLoss: 0, maxBurst: 6 }, 8, 2), 12);
  assert.equal(redundancyFor({ lossFraction: 0.2, residualLoss: 0.01, maxBurst: 1 }, 8, 2), 10);
  assert.equal(redundancyFor({ lossFraction: 0.5, residualLoss: 0.3, maxBurst: 20 }, 8, 2), 15);
  const p = new Packetizer({ payloadType: 1, redundancy: 4 });
  assert.equal(p.adapt({ lossFraction: 0.1, residualLoss: 0, maxBurst: 5 }), 10);
  for (let i = 0; i < 20; i++) p.adapt(clean);
  assert.equal(p.redundancy, 4); // never below the configured amount
  const lossy = { lossFraction: 0.2, residualLoss: 0, maxBurst: 5 };
  const two = new Packetizer({ payloadType: 1, redundancy: 2 });
  for (let i = 0; i < 10; i++) {
    two.adapt(lossy, 2);
    two.adapt(clean, 2);
  }
  assert.equal(two.redundancy, 10); // the worst of two listeners' reports
});

test("packetizer: quiet only when every primary frame is quiet", () => {
  const ps = packets(40);
  assert.deepEqual(ps.filter((p) => p.quiet).map((p) => p.timestamp), []);
  const p = new Packetizer({ payloadType: 1 });
  p.push(frame(0), true);
  assert.equal(parsePacket(p.push(frame(1), true)[0]).quiet, true);
});

test("packetizer: parity covers each column of a group and the flush sends a short packet", () => {
  const p = new Packetizer({ payloadType: 16, redundancy: 0, parityPackets: 3 });
  const out = [];
  for (let i = 0; i < 7; i++) out.push(...p.push(frame(i)).map(parsePacket));
  out.push(...p.flush().map(parsePacket));
  assert.equal(out.length, 4);
  assert.deepEqual(out.slice(0, 3).map((q) => q.parity.length), [0, 0, 0]);
  // After 3 packets of 2 frames the next packet carries one block per column.
  assert.deepEqual(out[3].parity.map((b) => [b.start, b.stride, b.count]), [[0, 2, 3], [1, 2, 3]]);
  assert.equal(out[3].frames.length, 1);
  assert.throws(() => new Packetizer({ payloadType: 64 }), RangeError);
  assert.throws(() => { p.redundancy = 16; }, RangeError);
});

// Deliver `ps` at their due time plus `delay(k)`, popping every 20 ms; returns the played ids.
function run(ps, { lost = new Set(), delay = () => 5, jb = new JitterBuffer(), until = null } = {}) {
  const events = [];
  ps.forEach((p, k) => {
    if (!lost.has(k)) events.push([40 * (k + 1) + delay(k), 0, p]);
  });
  const end = until ?? 40 * (ps.length + 8);
  for (let t = 10; t < end; t += 20) events.push([t, 1]);
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const played = [];
  for (const [t, kind, p] of events) {
    if (kind === 0) jb.push(p, t);
    else {
      const item = jb.pop(t);
      if (item) played.push(item.payload ? index(item.payload) : null);
    }
  }
  return { played, stats: jb.summary() };
}

test("jitter buffer: in-order stream plays every frame once, in order", () => {
  const { played, stats } = run(packets(200));
  const real = played.filter((x) => x !== null);
  assert.deepEqual(real, [...real].sort((a, b) => a - b));
  assert.equal(new Set(real).size, real.length);
  assert.ok(real.length >= 195, `played ${real.length}`);
  assert.equal(stats.framesConcealed, stats.underruns); // nothing lost, only the tail ran dry
  assert.equal(stats.packetsLost, 0);
});

test("jitter buffer: lost packets are recovered from redundancy", () => {
  const lost = new Set([10, 11, 12, 30, 50]);
  const { played, stats } = run(packets(200), { lost });
  for (const ts of [20, 21, 22, 23, 24, 25, 60, 61, 100, 101]) assert.ok(played.includes(ts), `frame ${ts} missing`);
  assert.equal(stats.framesRecovered, 10);
  assert.equal(stats.packetsLost, 5);
  assert.equal(stats.framesConcealed, stats.underruns);
  assert.ok(Math.abs(stats.lossFraction - 0.05) < 1e-9);
});

test("jitter buffer: a burst longer than the redundancy is concealed, then playout goes on", () => {
  const lost = new Set([20, 21, 22, 23, 24, 25]); // 12 frames, redundancy covers 8
  const { played, stats } = run(packets(200), { lost });
  assert.equal(stats.framesRecovered, 8); // frames 44..51 came again in packet 26
  // Nothing arrives after frame 39 for a while (late or lost?): playout waits, then conceals
  // frames 40..43 once the next packet shows they are lost, and goes on from its copies.
  const i = played.indexOf(39);
  const j = played.indexOf(44);
  assert.ok(j > i + 4 && played.slice(i + 1, j).every((x) => x === null));
  assert.equal(played[j + 1], 45);
  assert.equal(stats.framesConcealed - stats.underruns, 4);
  assert.ok(played.includes(190));
});

test("jitter buffer: a sender's CPU stall raises the target at once, so the next ones play through", () => {
  // Every 6 s the sender stalls 200 ms, then sends what it held back in a burst: longer ago
  // than the transit quantile remembers, so only the peak detector keeps the delay for them.
  const stall = (k) => {
    const at = (40 * (k + 1)) % 6000;
    return at >= 1000 && at < 1200 ? 1200 - at + 5 : 5;
  };
  const jb = new JitterBuffer();
  const events = [];
  packets(3000).forEach((p, k) => events.push([40 * (k + 1) + stall(k), 0, p]));
  for (let t = 10; t < 40 * 1508; t += 20) events.push([t, 1]);
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let afterSecond = null;
  let end = null; // before the stream's own end
  const played = [];
  for (const [t, kind, p] of events) {
    if (kind === 0) jb.push(p, t);
    else {
      const item = jb.pop(t);
      if (item?.payload) played.push(index(item.payload));
    }
    if (t >= 13000 && afterSecond === null) afterSecond = jb.summary();
    if (t >= 59000 && end === null) end = jb.summary();
  }
  assert.ok(afterSecond.underruns > 0); // the first stalls cost a few concealed frames…
  assert.equal(end.underruns, afterSecond.underruns); // …the eight after them none
  assert.equal(end.framesDropped - afterSecond.framesDropped, 0); // and no frame is skipped
  assert.ok(played.every((x, i) => i === 0 || x > played[i - 1])); // in order
});

test("jitter buffer: parity rebuilds a lost packet without redundancy", () => {
  const ps = packets(120, { redundancy: 0, parityPackets: 2 });
  // Parity for packets 4-5 rides in packet 6: the buffer must hold that long.
  const jb = new JitterBuffer({ minDelayMs: 100 });
  const { played, stats } = run(ps, { lost: new Set([4]), jb }); // packet 4: frames 8 and 9
  assert.ok(played.includes(8) && played.includes(9));
  assert.equal(stats.framesRecovered, 2);
});

test("jitter buffer: reordered and duplicated packets", () => {
  const ps = packets(120);
  const swapped = ps.slice();
  [swapped[10], swapped[11]] = [swapped[11], swapped[10]];
  swapped.splice(20, 0, ps[19]);
  const jb = new JitterBuffer();
  const { played } = run(swapped, { jb });
  const real = played.filter((x) => x !== null);
  assert.deepEqual(real, [...real].sort((a, b) => a - b));
  assert.equal(jb.stats.packetsDuplicate, 1);
});

test("jitter buffer: the target follows the jitter", () => {
  let seed = 7;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const calm = run(packets(400)).stats;
  const rough = run(packets(400), { delay: () => 5 + 80 * rnd() }).stats;
  assert.ok(calm.targetDelayMs <= 40, `calm target ${calm.targetDelayMs}`);
  assert.ok(rough.targetDelayMs >= 80, `rough target ${rough.targetDelayMs}`);
  assert.ok(rough.jitterMs > 10 * calm.jitterMs);
});

test("jitter buffer: a receiver clock slower than the sender's is absorbed by skipping frames", () => {
  const jb = new JitterBuffer();
  const ps = packets(1000);
  const events = ps.map((p, k) => [40 * (k + 1) + 5, 0, p]);
  for (let t = 10; t < 40 * 500; t += 20.8) events.push([t, 1]); // 4 % slow playout: 40 frames behind
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (const [t, kind, p] of events) (kind === 0 ? jb.push(p, t) : jb.pop(t));
  assert.ok(jb.stats.framesDropped >= 30, `dropped ${jb.stats.framesDropped}`);
  assert.ok(jb.stats.bufferDelayMs < 150, `delay ${jb.stats.bufferDelayMs}`);
});

test("jitter buffer: after a playout stall it jumps back to its target delay", () => {
  const jb = new JitterBuffer();
  const ps = packets(400);
  const events = ps.map((p, k) => [40 * (k + 1) + 5, 0, p]);
  for (let t = 10; t < 40 * 200; t += 20) if (t < 2000 || t > 3000) events.push([t, 1]); // 1 s without pops
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const played = [];
  for (const [t, kind, p] of events) {
    if (kind === 0) jb.push(p, t);
    else played.push(jb.pop(t));
  }
  assert.ok(jb.stats.framesDropped >= 40, `dropped ${jb.stats.framesDropped}`);
  const last = played[played.length - 1];
  assert.ok(jb.highTs - last.ts <= 4, `still ${jb.highTs - last.ts} frames behind`);
});

test("resampler: 48 kHz -> 16 kHz -> 48 kHz keeps a 1 kHz tone and the sample counts", () => {
  for (const [a, b] of [[48000, 16000], [44100, 16000], [16000, 48000], [16000, 44100]]) {
    const r = new Resampler(a, b);
    const x = Float32Array.from({ length: a }, (_, i) => Math.sin((2 * Math.PI * 1000 * i) / a));
    const out = [];
    for (let i = 0; i < x.length; i += 128) out.push(...r.process(x.subarray(i, i + 128)));
    assert.equal(out.length, b);
    const d = r.delaySamples / a;
    let err = 0;
    for (let k = 100; k < b; k++) err = Math.max(err, Math.abs(out[k] - Math.sin(2 * Math.PI * 1000 * (k / b - d))));
    assert.ok(err < 1e-3, `${a}->${b}: error ${err}`);
  }
});

test("resampler: removes what the lower rate cannot carry", () => {
  const r = new Resampler(48000, 16000);
  const x = Float32Array.from({ length: 48000 }, (_, i) => Math.sin((2 * Math.PI * 12000 * i) / 48000));
  const y = r.process(x).subarray(200);
  const rms = Math.sqrt(y.reduce((s, v) => s + v * v, 0) / y.length);
  assert.ok(rms < 1e-3, `12 kHz leaked at rms ${rms}`);
  assert.throws(() => new Resampler(0, 16000), RangeError);
});

test("payload: bit i of the code is byte i>>3, bit 7-(i&7), 1 = positive", () => {
  const signs = Float32Array.from({ length: 16 }, (_, i) => (i === 0 || i === 9 || i === 15 ? 1 : -1));
  assert.deepEqual([...packBits(signs, 16)], [0x80, 0x41]);
  assert.deepEqual([...unpackBits(Uint8Array.of(0x80, 0x41), 16, 16)], [...signs]);
  assert.deepEqual([...unpackBits(Uint8Array.of(0xff, 0xf0), 12, 16)], [...Array(12).fill(1), 0, 0, 0, 0]);
  assert.deepEqual([...unpackBits(null, 16, 16)], Array(16).fill(0));
  assert.throws(() => unpackBits(Uint8Array.of(0xff, 0xff), 12, 16), PayloadError);
  assert.throws(() => unpackBits(Uint8Array.of(1), 16, 16), /expected 2/);
  assert.deepEqual(FOCAL_MODES, { "focal-800": 16, "focal-400": 8 });
});

test("jitter buffer: receiver reports count each interval once", () => {
  const jb = new JitterBuffer();
  run(packets(200), { lost: new Set([10, 11, 12, 40]), jb });
  const first = parseReport(buildReport(jb.report(9)));
  assert.equal(first.sender, 9);
  assert.equal(first.highestSeq, 99);
  assert.equal(first.maxBurst, 3);
  assert.equal(first.lossFraction, Math.floor((4 / 100) * 256) / 256);
  assert.equal(first.lostTotal, 4);
  assert.equal(first.recovered, 8);
  assert.ok(first.playoutDelayMs > 0 && first.targetDelayMs >= 20);
  const second = jb.report(9); // nothing happened since
  assert.deepEqual([second.lossFraction, second.maxBurst, second.recovered, second.lostTotal], [0, 0, 0, 4]);
});

test("jitter buffer: timestamp and sequence leaps resynchronise without counting phantom losses", () => {
  const base = packets(400); // 200 packets
  const leap = base.map((p, k) => (k < 60 ? p
    : k < 120 ? { ...p, timestamp: (p.timestamp + (1 << 23)) % (1 << 24) } // a 2^23-frame jump
      : { ...p, timestamp: (p.timestamp + (1 << 23)) % (1 << 24), seq: (p.seq + 30000) % 65536 })); // then a seq leap
  const { played, stats } = run(leap);
  assert.equal(stats.resyncs, 1);
  assert.equal(stats.packetsLost, 0);
  assert.ok(stats.packetsExpected <= 200, `expected ${stats.packetsExpected}`);
  assert.ok(played.filter((x) => x !== null).length >= 360);
});

// ---- playout queue (the playout worklet's per-sender cushion) ---------------------------------

function playFor(queue, frames, { produce = () => 1, chunk = 16, peak = 0.5 } = {}) {
  // Each frame period the consumer takes 320 samples in chunks; `produce(t)` frames arrive first.
  const played = [];
  let ts = playFor.next ?? 0;
  for (let t = 0; t < frames; t++) {
    for (let k = produce(t); k > 0; k--) {
      queue.push(Float32Array.from({ length: 320 }, () => peak), ts);
      ts += 1;
    }
    for (let at = 0; at < 320; at += chunk) {
      queue.mixInto(new Float32Array(chunk), 0, chunk, (frameTs) => played.push(frameTs));
    }
  }
  playFor.next = ts;
  return played;
}

test("playout queue: a worker stall leaves one gap and a cushion, and loses no audio", () => {
  playFor.next = 0;
  const q = new PlayoutQueue({ frame: 320, startFrames: 2, windowSamples: 64000 });
  const warm = playFor(q, 50, { produce: (t) => (t === 0 ? 2 : 1) });
  assert.equal(q.stats.underruns, 0);
  // The worker stalls for 6 frame periods, then serves the six ticks it missed at once.
  const stalled = playFor(q, 60, { produce: (t) => (t < 6 ? 0 : t === 6 ? 7 : 1) });
  assert.equal(q.stats.underruns, 1);
  assert.equal(q.stats.trimmed, 0);
  const all = [...warm, ...stalled];
  assert.deepEqual(all, all.map((_, i) => i)); // every frame played, in order
  assert.ok(q.queued >= 5 * 320); // the cushion absorbs the next stall of the same length
  const again = playFor(q, 20, { produce: (t) => (t < 4 ? 0 : t === 4 ? 5 : 1) });
  assert.equal(q.stats.underruns, 1);
  assert.equal(again.length, 20);
});

test("playout queue: the cushion goes back in quiet frames once it was not needed", () => {
  playFor.next = 0;
  const q = new PlayoutQueue({ frame: 320, startFrames: 2, windowSamples: 16000 });
  playFor(q, 10, { produce: (t) => (t === 0 ? 10 : 1) }); // starts with 10 frames queued
  const deep = q.queued;
  playFor(q, 100, { peak: 0.5 }); // loud: nothing dropped
  assert.equal(q.stats.dropped, 0);
  playFor(q, 300, { peak: 0.001 }); // quiet: halves the excess each window, down to the start depth
  assert.ok(q.stats.dropped >= 6, `dropped ${q.stats.dropped}`);
  assert.ok(q.queued < deep && q.queued <= 3 * 320, `queued ${q.queued}`);
  assert.equal(q.stats.underruns, 0);
});

test("playout queue: a backlog beyond maxFrames is trimmed back to the start depth", () => {
  const q = new PlayoutQueue({ frame: 320, startFrames: 2, maxFrames: 15 });
  for (let i = 0; i < 20; i++) q.push(new Float32Array(320), i);
  const starts = [];
  q.mixInto(new Float32Array(16), 0, 16, (ts) => starts.push(ts));
  assert.equal(q.stats.trimmed, 1);
  assert.deepEqual(starts, [18]);
  assert.throws(() => new PlayoutQueue({ startFrames: 3, maxFrames: 3 }), RangeError);
});

test("jitter buffer: a keep-alive (DTX) makes a pause comfort noise, not concealment", () => {
  const jb = new JitterBuffer();
  const pkt = (seq, ts, extra) => parsePacket(buildPacketV3(seq, ts, extra));
  let seq = 0;
  const out = [];
  for (let t = 0; t < 120; t++) {
    const now = t * 20 + 10;
    if (t < 40 && t % 2 === 1) jb.push(pkt(seq++, t - 1, { frames: [[t - 1, 1], [t, 1]] }), now);
    if (t === 40 || t === 60) jb.push(pkt(seq++, t, { level: 50 }), now);
    if (t >= 80 && t % 2 === 1) jb.push(pkt(seq++, t - 1, { frames: [[t - 1, 1], [t, 1]] }), now);
    const item = jb.pop(now);
    if (item) out.push(item);
  }
  const s = jb.summary();
  assert.equal(s.keepalives, 2);
  assert.ok(s.framesComfort > 30, `${s.framesComfort} comfort frames`);
  assert.ok(out.filter((i) => i.source === "comfort").every((i) => i.level === 50));
  assert.ok(s.dtxShare > 0.2);
  assert.ok(out.slice(-20).every((i) => i.payload !== null), "speech after the pause plays");
});

test("jitter buffer: keep-alives heard before playout starts do not turn a later late packet into comfort noise", () => {
  // A late joiner's first packets are keep-alives of a pause that the speech after them ends.
  // Remembered past the start of playout, they made the first frame missing in that speech
  // (a packet 120 ms late) play comfort noise: a burst of noise in mid-speech.
  const jb = new JitterBuffer();
  const pkt = (seq, ts, extra) => parsePacket(buildPacketV3(seq, ts, extra));
  jb.push(pkt(0, 100, { level: 50 }), 0);
  jb.push(pkt(1, 120, { level: 50 }), 400);
  const out = [];
  let seq = 2;
  for (let t = 130; t < 200; t++) {
    const now = (t - 100) * 20 + 10;
    if (t % 2 === 1 && t !== 151) jb.push(pkt(seq++, t - 1, { frames: [[t - 1, 1], [t, 1]] }), now);
    if (t === 158) jb.push(pkt(seq++, 150, { frames: [[150, 1], [151, 1]] }), now); // 120 ms late
    const item = jb.pop(now);
    if (item) out.push(item);
  }
  assert.deepEqual(out.filter((i) => i.source === "comfort").map((i) => i.ts), []);
  assert.deepEqual(out.filter((i) => i.payload === null).map((i) => i.ts), [150, 151]); // concealed
  assert.equal(jb.summary().framesComfort, 0);
});

function buildPacketV3(seq, ts, { frames = [], level = null }) {
  return buildPacket({ payloadType: 1, seq, timestamp: ts, sender: 1, version: 3, level,
    quiet: level !== null, frames: frames.map((f) => Uint8Array.from(f)) });
}

test("packetizer DTX: the same packets as transport/packetizer.py (keep-alives, held frames at the onset)", () => {
  const pk = new Packetizer({ payloadType: 1, version: 3, redundancy: 2, dtx: { hangover: 2, keepalive: 5, onset: 4 } });
  const out = [];
  for (let i = 0; i < 30; i++) {
    for (const b of pk.push(Uint8Array.of(i, 0), false, i < 6 || i >= 20, 60)) out.push(parsePacket(b));
  }
  const keepalives = out.filter((p) => p.level !== null);
  assert.deepEqual(keepalives.map((p) => p.timestamp), [8, 13, 18]);
  assert.ok(keepalives.every((p) => p.level === 60 && p.version === 3));
  assert.deepEqual(out.map((p) => p.seq), out.map((_, i) => i));
  const onset = out.find((p) => p.level === null && p.timestamp >= 20);
  assert.equal(onset.timestamp, 20);
  assert.deepEqual(onset.redundant.map((f) => f[0]), [16, 17, 18, 19]);
  assert.deepEqual([pk.framesHeld, pk.keepalives, pk.framesPushed], [12, 3, 30]);
});

test("VAD: speech over a -50 dBFS background, background level as the keep-alive byte", async () => {
  const { Vad } = await import("../../web/js/vad.js");
  const vad = new Vad();
  let seed = 1;
  const noise = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * Math.sqrt(12);
  const frame = (amp) => Float32Array.from({ length: 320 }, () => amp * noise());
  const verdicts = [];
  for (let i = 0; i < 100; i++) verdicts.push(vad.update(frame(i >= 50 && i < 70 ? 0.1 : 10 ** (-50 / 20))));
  assert.ok(verdicts.slice(0, 50).every((v) => !v) && verdicts.slice(50, 70).every((v) => v));
  assert.ok(verdicts.slice(70).every((v) => !v));
  assert.ok(Math.abs(vad.backgroundLevel - 50) <= 1, `${vad.backgroundLevel}`);
});
