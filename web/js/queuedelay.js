// Receiver side in the page: queueing delay of one sender's packets for the receiver reports —
// transport/queuedelay.py, computation for computation (tests/test_queuedelay.py runs both on
// the same arrivals). Each packet gives r = arrival - (timestamp + max(1, frames)) * frame
// period: queueing delay is r above its minimum over the last `baseWindowMs`, and the trend is
// the least-squares slope of r over arrival time (ms of delay per s) since the last report.

import { TS_MOD } from "./packet.js";

const RESTART_MS = 10000; // a relative delay this far from the base: a new timeline, start over

export class QueueDelayEstimator {
  constructor({ frameMs = 20, baseWindowMs = 20000 } = {}) {
    if (!(frameMs > 0) || !(baseWindowMs > 0)) throw new RangeError("frameMs and baseWindowMs must be positive");
    this.frameMs = frameMs;
    this.baseWindowMs = baseWindowMs;
    this.restarts = 0;
    this._clear();
  }

  _clear() {
    this._top = null; // unwrapped newest timestamp
    this._base = []; // [arrival, r], r increasing
    this._interval = []; // [arrival, r] since the last report
  }

  /** One packet (a keep-alive has `frames` 0) with `timestamp` mod 2**24 arrived at `arrivalMs`. */
  packet(arrivalMs, timestamp, frames) {
    const raw = ((timestamp % TS_MOD) + TS_MOD) % TS_MOD;
    let ts = raw;
    if (this._top !== null) {
      const delta = (((ts - this._top) % TS_MOD) + TS_MOD) % TS_MOD;
      ts = this._top + (delta >= TS_MOD / 2 ? delta - TS_MOD : delta);
    }
    let r = arrivalMs - (ts + Math.max(1, frames)) * this.frameMs;
    if (this._base.length && Math.abs(r - this._base[0][1]) > RESTART_MS) {
      this._clear();
      this.restarts += 1;
      ts = raw;
      r = arrivalMs - (ts + Math.max(1, frames)) * this.frameMs;
    }
    this._top = this._top === null ? ts : Math.max(this._top, ts);
    while (this._base.length && this._base[this._base.length - 1][1] >= r) this._base.pop();
    this._base.push([arrivalMs, r]);
    while (this._base[0][0] < arrivalMs - this.baseWindowMs) this._base.shift();
    this._interval.push([arrivalMs, r]);
  }

  /** {meanMs, trend, samples} since the previous call; null when no packet came. */
  report() {
    const samples = this._interval;
    this._interval = [];
    if (!samples.length) return null;
    const base = this._base[0][1];
    const meanMs = samples.reduce((sum, [, r]) => sum + (r - base), 0) / samples.length;
    return { meanMs: Math.max(0, meanMs), trend: 1000 * slope(samples), samples: samples.length };
  }
}

/** Least-squares slope of y over x (0 for fewer than 2 distinct x). */
function slope(points) {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  if (sxx <= 0) return 0;
  return points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0) / sxx;
}
