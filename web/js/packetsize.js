// Sender side: how many frames a packet carries (and, under a cap, how much redundancy) — the
// policy of transport/packetsize.py, decision for decision (tests/test_packetsize_parity.py
// runs both on the same reports). In short: `base` frames a packet (2: 40 ms) unless a cap
// (the sender's own `maxBitrate`, bit/s on the wire with the SACKs back, or the lowest a
// receiver asks for in its reports) or an overloaded link (sustained loss that redundancy does
// not repair, or a queue that the reports' queueing delay shows growing) needs fewer, larger
// packets; the reasons and figures are in the Python module.

import { MAX_PRIMARY_V3 } from "./packet.js";
import { WireModel } from "./wire.js";

const MAX_CALM_REPORTS = 64;
export const MAX_PACKET_MS = 160; // the most audio one packet may hold, whatever the frame length
const LOSS_SMOOTHING = 0.3; // weight of the newest report's loss
const SETTLE_REPORTS = 2; // reports after a cut not believed for another
const UNDO_RATIO = 0.75; // a cut whose next believed report still shows this share of the loss is undone
const HOLD_REPORTS = 10; // then loss is taken as the link's own for this many reports (doubling)
const DRAINING_TREND = -30; // ms/s: a queue falling faster than this is draining, not overused
const OVERUSE_LEAST_SHARE = 0.3; // a cut for a queue may go this low: the queue must drain before frames run late
const PROBE_REPORTS = 3; // reports after a rise in which a queue is taken as the rise's doing
const OVERRUN_MARGIN = 0.95; // a probe stays this far under the rate that last overran the link

/** The packing policy (transport.packetsize.SizeConfig, same defaults), validated. */
export function sizeConfig(options = {}) {
  const c = { frameMs: 20, base: 2, most: MAX_PRIMARY_V3, maxBitrate: null, wire: new WireModel(),
    lossDistress: 0.4, residualDistress: 0.03, sustainedReports: 3, jitterDistressMs: null, calmReports: 5,
    queueDistressMs: 100, risingTrend: 100, start: null, ...options };
  c.start ??= null; // frames a packet to start at, probing down to base (null: base)
  c.maxBitrate ??= null; // undefined (an option not given) means none, as null does
  c.jitterDistressMs ??= null;
  if (c.queueDistressMs === undefined) c.queueDistressMs = 100; // null turns queueing delay off
  if (!(Number.isInteger(c.base) && Number.isInteger(c.most) && c.base >= 1 && c.base <= c.most
    && c.most <= MAX_PRIMARY_V3)) {
    throw new RangeError(`need 1 <= base <= most <= ${MAX_PRIMARY_V3}`);
  }
  if (c.maxBitrate !== null && !(c.maxBitrate > 0)) throw new RangeError("maxBitrate must be positive");
  if (!(c.frameMs > 0) || !(c.calmReports >= 1) || !(c.sustainedReports >= 1)) {
    throw new RangeError("frameMs must be positive, calmReports and sustainedReports at least 1");
  }
  if (c.queueDistressMs !== null && !(c.queueDistressMs > 0 && c.risingTrend > 0)) {
    throw new RangeError("queueDistressMs and risingTrend must be positive");
  }
  if (c.start !== null && !(Number.isInteger(c.start) && c.start >= c.base && c.start <= c.most)) {
    throw new RangeError("start must lie within [base, most]");
  }
  return Object.freeze(c);
}

/** The most frames a packet may carry: MAX_PACKET_MS of audio, at least 1. */
export function mostFrames(frameMs, versionMost = MAX_PRIMARY_V3) {
  return Math.max(1, Math.min(versionMost, Math.floor(MAX_PACKET_MS / frameMs)));
}

/** [frames per packet, redundancy]: the fewest frames from `least` (default config.base) whose
 *  talking rate fits `capBps` with `redundancy`; else `most` frames with the most redundancy
 *  that fits (0 if none does). */
export function fitCap(capBps, frameBytes, redundancy, config, least = config.base) {
  const rate = (n, r) => config.wire.streamBps(n, frameBytes, r, config.frameMs);
  if (capBps === null) return [least, redundancy];
  for (let n = least; n <= config.most; n++) if (rate(n, redundancy) <= capBps) return [n, redundancy];
  let r = redundancy;
  while (r > 0 && rate(config.most, r) > capBps) r -= 1;
  return [config.most, r];
}

/** Follows reports and caps; update() gives [frames per packet, redundancy]. */
export class PacketSizer {
  constructor(config = sizeConfig()) {
    this.config = config;
    this.linkCap = null; // what an overloaded link seemed to carry, bit/s
    this._calm = 0;
    this._calmNeeded = config.calmReports;
    this._sinceStepDown = null;
    this._settling = 0; // reports after a cut that still describe the rate before it
    this._receiverCaps = [];
    this._loss = 0; // smoothed loss fraction of the reports
    this._residual = 0; // smoothed residual (unrepaired) loss of the reports
    this._cutLoss = null; // the loss that made the last cut, until judged
    this._sinceCut = 0;
    this._hold = 0; // reports in which loss is taken as the link's own, not an overload
    this._holdNeeded = HOLD_REPORTS;
    this._lossyRun = 0; // consecutive reports past both loss thresholds
    this._queuedRun = 0; // consecutive reports with a queue that is not draining
    this._overran = null; // the least rate that filled the link's queue, bit/s
    this._sinceOverrun = 0;
    this._startPending = config.start !== null && config.start > config.base;
    this.framesPerPacket = config.base;
    this.redundancy = 0;
  }

  /** A slow start: the first plan or report takes the rate of `start` frames as the link's, from
   *  which calm reports probe down to `base` as after a cut. */
  _begin(frameBytes, redundancy) {
    if (!this._startPending) return;
    const c = this.config;
    this._startPending = false;
    this.linkCap = c.wire.streamBps(c.start, frameBytes, redundancy, c.frameMs);
  }

  /** The cap in force (bit/s): ours, the lowest of the receivers' latest, or the link's; null: none. */
  get capBps() {
    const caps = [this.config.maxBitrate, this.linkCap, ...this._receiverCaps].filter((c) => c !== null);
    return caps.length ? Math.min(...caps) : null;
  }

  /** [frames per packet, redundancy] for the current state, without a new report. */
  plan(frameBytes, redundancy) {
    this._begin(frameBytes, redundancy);
    [this.framesPerPacket, this.redundancy] = fitCap(this.capBps, frameBytes, redundancy, this.config);
    return [this.framesPerPacket, this.redundancy];
  }

  /** Take one report (parseReport's object; `redundancy`: what the reports ask for, see
   *  redundancyFor); with `receivers` listeners the lowest cap of their last reports counts. */
  update(report, frameBytes, redundancy, receivers = 1) {
    const c = this.config;
    this._begin(frameBytes, redundancy);
    const rate = (n, r) => c.wire.streamBps(n, frameBytes, r, c.frameMs);
    const cap = report.maxKbps ? report.maxKbps * 1000 : null;
    this._receiverCaps = [...this._receiverCaps, cap].slice(-Math.max(1, receivers));
    this._loss += LOSS_SMOOTHING * (report.lossFraction - this._loss);
    this._residual += LOSS_SMOOTHING * (report.residualLoss - this._residual);
    if (this._hold) this._hold -= 1;
    if (this._cutLoss !== null) {
      this._sinceCut += 1;
      if (this._sinceCut > SETTLE_REPORTS) { // the first report that shows the cut's effect
        if (report.lossFraction > UNDO_RATIO * this._cutLoss) {
          // Sending less did not lose less: the loss is the link's own (random or bursty).
          this.linkCap = null;
          this._settling = 0;
          this._calm = 0;
          this._hold = this._holdNeeded;
          this._holdNeeded = Math.min(MAX_CALM_REPORTS, 2 * this._holdNeeded);
        }
        this._cutLoss = null;
      }
    }
    const lossyNow = Math.min(this._loss, report.lossFraction) >= c.lossDistress
      && Math.min(this._residual, report.residualLoss) >= c.residualDistress;
    this._lossyRun = lossyNow ? this._lossyRun + 1 : 0;
    const lossy = this._lossyRun >= c.sustainedReports;
    const jittery = c.jitterDistressMs !== null && report.jitterMs >= c.jitterDistressMs;
    const queueMs = report.queueDelayMs ?? null;
    const trend = report.delayTrend ?? 0;
    // Right after a rise a queue is the rise's doing: half as much counts.
    const probing = this._sinceStepDown !== null && this._sinceStepDown < PROBE_REPORTS;
    const sensitivity = probing ? 0.5 : 1;
    const queued = c.queueDistressMs !== null && queueMs !== null && queueMs >= sensitivity * c.queueDistressMs;
    const queuedNow = queued && trend > DRAINING_TREND;
    this._queuedRun = queuedNow ? this._queuedRun + 1 : 0;
    // A queue that grows fast, or stays in two reports in a row: we overrun the link.
    const overuse = queuedNow && (this._queuedRun >= 2 || trend >= sensitivity * c.risingTrend);
    const distress = ((lossy || jittery) && !this._hold) || overuse;
    if (this._sinceStepDown !== null) this._sinceStepDown += 1;
    if (this._overran !== null) {
      this._sinceOverrun += 1;
      if (this._sinceOverrun > MAX_CALM_REPORTS) this._overran = null; // about a minute: the link may have widened
    }
    const sending = rate(this.framesPerPacket, this.redundancy);
    if (distress && this._settling) {
      this._settling -= 1; // the cut's effect is not in this report yet
      this._calm = 0;
    } else if (distress) {
      if (this._sinceStepDown !== null && this._sinceStepDown <= 2) {
        this._calmNeeded = Math.min(MAX_CALM_REPORTS, 2 * this._calmNeeded); // it was too soon
      }
      this._sinceStepDown = null;
      // What got through is about what the link carries: aim 10 % under it, cutting at most half.
      // Under a queue, less what it grew by, and less again to drain what stands in it.
      let queue = 1;
      let leastShare = 0.5;
      if (overuse) {
        const growth = Math.max(0, trend) / 1000; // s of queue per s
        const standing = queueMs / 1000 + growth / 2; // at the report (a mean over ~1 s)
        queue = (1 + growth) / (1 - Math.min(0.5, standing));
        leastShare = OVERUSE_LEAST_SHARE;
        this._overran = this._overran === null ? sending : Math.min(this._overran, sending);
        this._sinceOverrun = 0;
      }
      const carried = Math.max(leastShare, 0.9 * (1 - report.lossFraction) / queue) * sending;
      const least = rate(c.most, Math.min(redundancy, c.most));
      this.linkCap = Math.max(least, this.linkCap === null ? carried : Math.min(this.linkCap, carried));
      this._calm = 0;
      this._settling = SETTLE_REPORTS;
      this._cutLoss = overuse ? null : report.lossFraction; // a cut for a queue is not judged by loss
      this._sinceCut = 0;
    } else if (this.linkCap !== null) {
      this._settling = 0;
      if (!queued) this._calm += 1; // a standing queue is no time to send more
      if (this._calm >= this._calmNeeded) { // try a quarter more, short of what overran the link
        this._calm = 0;
        this._sinceStepDown = 0;
        const ceiling = this._overran === null ? Infinity : OVERRUN_MARGIN * this._overran;
        this.linkCap = Math.max(this.linkCap, Math.min(1.25 * this.linkCap, ceiling));
        if (this.linkCap >= rate(c.base, redundancy)) this.linkCap = null;
      }
    }
    return this.plan(frameBytes, redundancy);
  }
}

/** A receiver report about our own stream, as client/call.py takes one: the packetizer's
 *  redundancy adapts to it (Packetizer.adapt), then the sizer picks frames per packet and
 *  redundancy, which the packetizer uses from its next packet on. `frameBytes`: the frame size
 *  to plan with until frames have been pushed. Returns [frames per packet, redundancy]. */
export function followReport(sizer, packetizer, report, receivers, frameBytes) {
  const wanted = packetizer.adapt(report, receivers);
  const [n, r] = sizer.update(report, packetizer.meanFrameBytes || frameBytes, wanted, receivers);
  packetizer.framesPerPacket = n;
  packetizer.redundancy = r;
  return [n, r];
}
