// Receiver side in the page: an adaptive jitter buffer for one sender, driven by the caller's
// clock (milliseconds). push(packet, arrivalMs) for every parsed packet; pop(nowMs) once per
// frame period returns null before playout starts, then {payload, source} with payload null
// when the frame must be concealed. Redundant copies and XOR parity fill gaps before that.
// Delay control: the target is the recent spread of packet transit times (a high quantile
// minus the minimum) plus one frame, plus a frame per recent dry spell (decaying). The buffer
// grows by concealing on underrun (the frame is late, not lost) and shrinks by skipping a
// frame, preferably one the sender marked quiet, or by a jump when far above target.

import { SEQ_MOD, TS_MOD, parityTimestamps, recoverParity } from "./packet.js";
import { QueueDelayEstimator } from "./queuedelay.js";

const HISTORY = 256; // played frames kept for parity recovery
const FORCE_FRAMES = 4; // this far above target, skip a frame even if it is not quiet
const RESYNC_FRAMES = 250;
const JUMP_FRAMES = 10; // this far (200 ms) above target, skip straight back to it
const MAX_BUMP = 15; // frames underruns and late bursts may add to the target
const BUMP_DECAY_POPS = 150; // 3 s without an underrun lowers the target by one frame // a timestamp this far from playout (5 s) restarts the stream
// A sequence number this far from the newest while timestamps run on is no reordering: two such
// packets are ignored, a third restarts the loss count (a leap is not thousands of lost packets).
const SEQ_JUMP = 500;

function unwrap(value, reference, modulus) {
  let delta = (((value - reference) % modulus) + modulus) % modulus;
  if (delta >= modulus / 2) delta -= modulus;
  return reference + delta;
}

function quantile(values, q) {
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

export class JitterBuffer {
  constructor({ frameMs = 20, minDelayMs = 20, maxDelayMs = 500, initialDelayMs = 60, quantileLevel = 0.97,
    window = 150 } = {}) {
    if (!(frameMs > 0) || !(minDelayMs >= 0) || !(maxDelayMs >= minDelayMs)) {
      throw new RangeError("need frameMs > 0 and 0 <= minDelayMs <= maxDelayMs");
    }
    Object.assign(this, { frameMs, minDelayMs, maxDelayMs, initialDelayMs, quantileLevel, window });
    this.stats = { packetsReceived: 0, packetsDuplicate: 0, packetsLate: 0, packetsExpected: 0,
      framesPlayed: 0, framesRecovered: 0, framesConcealed: 0, framesDropped: 0, underruns: 0, resyncs: 0,
      framesComfort: 0, keepalives: 0, jitterMs: 0, targetDelayMs: initialDelayMs, bufferDelayMs: 0 };
    this.interval = { maxBurst: 0, expected: 0, received: 0, played: 0, concealed: 0, recovered: 0, waits: [] };
    this.expectedBefore = 0; // packets expected before the sequence numbers last restarted
    this._reset();
  }

  _reset() {
    this.frames = new Map(); // ts -> {payload, source, arrival, quiet}
    this.history = new Map(); // played ts -> payload
    this.parity = []; // [timestamps, block]
    this.transits = [];
    this.queue = new QueueDelayEstimator({ frameMs: this.frameMs }); // for the sender's reports
    this.seen = new Set();
    this.highSeq = null;
    this.firstSeq = null;
    this.tsRef = null;
    this.highTs = null;
    this.nextTs = 0;
    this.started = false;
    this.firstArrival = 0;
    this.pauses = new Map(); // keep-alive ts -> level (-dBov), not reached yet (DTX)
    this.comfort = null; // level while playing a sender's pause
    this.lastTransit = null;
    this.depths = [];
    this.waits = [];
    this.farStreak = 0;
    this.seqFarStreak = 0;
    this.bump = 0; // extra frames of target after underruns, decaying while none happen
    this.calmPops = 0;
    this.dry = false; // the last pop found nothing to play
  }

  /** Target delay in frames (at least one: a frame period passes between pops). */
  get targetFrames() {
    let spread = this.initialDelayMs;
    if (this.transits.length >= 10) spread = quantile(this.transits, this.quantileLevel) - Math.min(...this.transits);
    const ms = Math.min(this.maxDelayMs, Math.max(this.minDelayMs, spread + this.frameMs));
    const frames = Math.max(1, Math.ceil(ms / this.frameMs)) + this.bump;
    return Math.min(frames, Math.max(1, Math.floor(this.maxDelayMs / this.frameMs)));
  }

  push(packet, arrivalMs) {
    const ts = this.tsRef === null ? packet.timestamp : unwrap(packet.timestamp, this.tsRef, TS_MOD);
    const anchor = this.started ? this.nextTs : this.tsRef;
    if (anchor !== null && Math.abs(ts - anchor) > RESYNC_FRAMES) {
      if (++this.farStreak < 3) return;
      this.stats.resyncs += 1;
      this.expectedBefore = this.stats.packetsExpected;
      this._reset();
      this.push(packet, arrivalMs);
      return;
    }
    this.farStreak = 0;
    let seq = this.highSeq === null ? packet.seq : unwrap(packet.seq, this.highSeq, SEQ_MOD);
    if (this.highSeq !== null && Math.abs(seq - this.highSeq) > SEQ_JUMP) {
      if (++this.seqFarStreak < 3) return;
      this.expectedBefore = this.stats.packetsExpected;
      this.highSeq = this.firstSeq = null;
      this.seen.clear();
      seq = packet.seq;
    }
    this.seqFarStreak = 0;
    if (this.seen.has(seq)) {
      this.stats.packetsDuplicate += 1;
      return;
    }
    this.seen.add(seq);
    if (this.seen.size > 4096) for (const s of this.seen) if (s < seq - 2048) this.seen.delete(s);
    if (this.firstSeq === null) this.firstSeq = seq;
    if (this.highSeq !== null && seq > this.highSeq + 1) {
      this.interval.maxBurst = Math.max(this.interval.maxBurst, seq - this.highSeq - 1);
    }
    this.highSeq = this.highSeq === null ? seq : Math.max(this.highSeq, seq);
    this.stats.packetsReceived += 1;
    this.stats.packetsExpected = this.expectedBefore + this.highSeq - this.firstSeq + 1;
    this.tsRef = this.tsRef === null ? ts : Math.max(this.tsRef, ts);
    this.queue.packet(arrivalMs, packet.timestamp, packet.level !== null ? 0 : packet.frames.length);
    if (packet.level !== null) {
      // A DTX keep-alive: the sender is silent from ts on; play comfort noise until a frame comes.
      this.stats.keepalives += 1;
      if ((!this.started || ts >= this.nextTs) && this.pauses.size < 64) this.pauses.set(ts, packet.level);
      return;
    }

    const last = ts + packet.frames.length - 1;
    const transit = arrivalMs - last * this.frameMs;
    if (this.lastTransit !== null) {
      // RFC 3550 interarrival jitter, in milliseconds.
      this.stats.jitterMs += (Math.abs(transit - this.lastTransit) - this.stats.jitterMs) / 16;
    }
    this.lastTransit = transit;
    this.transits.push(transit);
    if (this.transits.length > this.window) this.transits.shift();
    this._notePeak(transit);

    if (!this.started) {
      if (!this.frames.size) {
        this.firstArrival = arrivalMs;
        this.nextTs = ts;
      }
      this.nextTs = Math.min(this.nextTs, ts);
    } else if (last < this.nextTs) {
      this.stats.packetsLate += 1;
    }
    this.highTs = this.highTs === null ? last : Math.max(this.highTs, last);
    const first = ts - packet.redundant.length;
    const all = [...packet.redundant, ...packet.frames];
    all.forEach((payload, i) => {
      const t = first + i;
      const primary = i >= packet.redundant.length;
      if (t < this.nextTs || this.frames.has(t)) return;
      this.frames.set(t, { payload, source: primary ? "primary" : "redundancy", arrival: arrivalMs,
        quiet: primary && packet.quiet });
    });
    for (const block of packet.parity) {
      const start = ts - ((((packet.timestamp - block.start) % TS_MOD) + TS_MOD) % TS_MOD);
      const covered = parityTimestamps(block).map((_, k) => start + k * block.stride);
      if (covered[covered.length - 1] >= this.nextTs) this.parity.push([covered, block]);
    }
  }

  // A packet far later than the quantile target foresaw (a sender whose CPU stalled, a burst
  // after a main-thread stall): raise the target at once to what it would have needed, so the
  // burst that follows is kept as delay rather than skipped, then let it decay (NetEQ's peak
  // detector). A quantile over 3 s of packets never sees a single 100-300 ms stall.
  _notePeak(transit) {
    if (this.transits.length < 10) return;
    const needed = Math.ceil((transit - Math.min(...this.transits)) / this.frameMs) + 1;
    const plain = this.targetFrames - this.bump;
    if (needed - plain > this.bump) {
      this.bump = Math.min(MAX_BUMP, needed - plain);
      this.calmPops = 0;
    }
  }

  _lookup(ts) {
    const slot = this.frames.get(ts);
    return slot ? slot.payload : (this.history.get(ts) ?? null);
  }

  _recover(ts) {
    for (const [covered, block] of this.parity) {
      if (!covered.includes(ts)) continue;
      const got = recoverParity(block, covered, (t) => this._lookup(t));
      if (got && got[0] === ts) return got[1];
    }
    return null;
  }

  /** The next frame to decode: null before playout starts, else {payload|null, source, ts}. */
  pop(nowMs) {
    const target = this.targetFrames;
    if (!this.started) {
      if (!this.frames.size || nowMs - this.firstArrival < (target - 1) * this.frameMs) return null;
      this.started = true;
      // Keep-alives before the first frame belong to a pause that frame ended (we joined while
      // the sender was silent): kept, they would turn the first frame missing later into noise.
      for (const t of this.pauses.keys()) if (t < this.nextTs) this.pauses.delete(t);
    }
    const depth = this.highTs === null ? 0 : this.highTs + 1 - this.nextTs;
    if (!this.frames.has(this.nextTs) && this._inPause()) {
      const ts = this.nextTs;
      this._advance(null);
      this.stats.framesComfort += 1;
      this.dry = false;
      return { payload: null, source: "comfort", level: this.comfort, ts: ts % TS_MOD };
    }
    if (++this.calmPops >= BUMP_DECAY_POPS && this.bump > 0) {
      this.bump -= 1;
      this.calmPops = 0;
    }
    if (depth <= 0) {
      // Nothing at or after the playout point has arrived: the stream is late, so wait a frame
      // and aim higher for a while (arrival bursts the transit spread has not seen yet).
      if (!this.dry) this.bump = Math.min(this.bump + 1, MAX_BUMP); // once per dry spell
      this.dry = true;
      this.calmPops = 0;
      this.stats.underruns += 1;
      this.stats.framesConcealed += 1;
      this.stats.framesPlayed += 1;
      return { payload: null, source: "underrun", ts: null };
    }
    this.dry = false;
    this.depths.push(depth);
    if (this.depths.length > 50) this.depths.shift();
    const minDepth = Math.min(...this.depths);
    const slot = this.frames.get(this.nextTs);
    const excess = minDepth - target;
    if (this.depths.length >= 25 && excess > JUMP_FRAMES) {
      // Far behind for half a second (the playout clock stalled): one jump back to the
      // target instead of single-frame skips, which would take many seconds to catch up.
      for (let n = excess; n > 0; n--) this._advance();
      this.stats.framesDropped += excess;
      this.depths = [];
      return this.pop(nowMs);
    }
    if (this.depths.length >= 25 && excess >= 1 && (excess >= FORCE_FRAMES || !slot || slot.quiet)) {
      this._advance(); // skip one frame to bring the delay down
      this.stats.framesDropped += 1;
      this.depths = [];
    }
    const ts = this.nextTs;
    let entry = this.frames.get(ts);
    let payload = entry ? entry.payload : null;
    let source = entry ? entry.source : "missing";
    if (!payload) {
      payload = this._recover(ts);
      if (payload) source = "parity";
    }
    if (entry) {
      this.interval.waits.push(nowMs - entry.arrival);
      this.waits.push(nowMs - entry.arrival);
      if (this.waits.length > 50) this.waits.shift();
      this.stats.bufferDelayMs = this.waits.reduce((a, b) => a + b, 0) / this.waits.length;
    }
    this._advance(payload);
    if (payload) this.comfort = null;
    this.stats.framesPlayed += 1;
    if (source === "redundancy" || source === "parity") this.stats.framesRecovered += 1;
    if (!payload) this.stats.framesConcealed += 1;
    this.stats.targetDelayMs = target * this.frameMs;
    return { payload, source, ts: ts % TS_MOD };
  }

  /** Whether the frame due now lies in a sender's pause (a keep-alive at or before it, no frame since). */
  _inPause() {
    for (const [t, level] of this.pauses) {
      if (t <= this.nextTs) {
        this.comfort = level;
        this.pauses.delete(t);
      }
    }
    return this.comfort !== null;
  }

  _advance(payload) {
    const ts = this.nextTs;
    const slot = this.frames.get(ts);
    this.frames.delete(ts);
    const played = payload ?? (slot ? slot.payload : null);
    if (played) this.history.set(ts, played);
    if (this.history.size > HISTORY) this.history.delete(this.history.keys().next().value);
    this.parity = this.parity.filter(([covered]) => covered[covered.length - 1] > ts);
    this.nextTs = ts + 1;
  }

  /** Fields of a receiver report (transport/README.md) since the previous call, for `sender`. */
  report(sender) {
    const s = this.summary();
    const i = this.interval;
    const expected = s.packetsExpected - i.expected;
    const received = s.packetsReceived - i.received;
    const played = s.framesPlayed - i.played;
    const concealed = s.framesConcealed - i.concealed;
    const waits = i.waits;
    const queue = this.queue.report();
    const fields = {
      sender, highestSeq: ((this.highSeq ?? 0) % SEQ_MOD + SEQ_MOD) % SEQ_MOD,
      lossFraction: expected > 0 ? Math.min(1, Math.max(0, (expected - received) / expected)) : 0,
      residualLoss: played > 0 ? Math.min(1, concealed / played) : 0, maxBurst: i.maxBurst,
      jitterMs: s.jitterMs, playoutDelayMs: waits.length ? waits.reduce((a, b) => a + b, 0) / waits.length : 0,
      targetDelayMs: s.targetDelayMs, recovered: s.framesRecovered - i.recovered,
      concealedTotal: s.framesConcealed, lostTotal: s.packetsLost,
      queueDelayMs: queue ? queue.meanMs : null, delayTrend: queue ? queue.trend : null,
    };
    this.interval = { maxBurst: 0, expected: s.packetsExpected, received: s.packetsReceived, played: s.framesPlayed,
      concealed: s.framesConcealed, recovered: s.framesRecovered, waits: [] };
    return fields;
  }

  /** Packets lost (never received) as a fraction of those expected; residual loss likewise. */
  summary() {
    const s = this.stats;
    const lost = Math.max(0, s.packetsExpected - s.packetsReceived);
    return { ...s, packetsLost: lost, lossFraction: s.packetsExpected ? lost / s.packetsExpected : 0,
      residualLoss: s.framesPlayed ? s.framesConcealed / s.framesPlayed : 0,
      dtxShare: s.framesPlayed + s.framesComfort ? s.framesComfort / (s.framesPlayed + s.framesComfort) : 0 };
  }
}
