// Sender side: group codec frames into packets with redundancy and optional XOR parity,
// the same packing as transport/packetizer.py (so a receiver cannot tell the two apart).

import { MAX_LEVEL, MAX_PARITY_BLOCKS, MAX_PARITY_COUNT, MAX_PAYLOAD_TYPE, MAX_PRIMARY, MAX_PRIMARY_V3,
  MAX_REDUNDANT, MAX_SENDER, SEQ_MOD, TS_MOD, VERSION, VERSION_3, buildPacket, makeParity } from "./packet.js";

/** DTX defaults (transport.DtxConfig): 200 ms hangover, a keep-alive every 400 ms, at least
 * 80 ms of held-back frames in the first packet after a pause. */
export const DTX_DEFAULTS = { hangover: 10, keepalive: 20, onset: 4 };

export class Packetizer {
  /** config: {payloadType, sender, framesPerPacket=2, redundancy=8, parityPackets=0,
   *  firstSeq=0, firstTimestamp=0, version=1, dtx=null ({hangover, keepalive, onset}: needs version 3)} */
  constructor(config) {
    const c = { sender: 0, framesPerPacket: 2, redundancy: 8, parityPackets: 0, firstSeq: 0,
      firstTimestamp: 0, version: VERSION, dtx: null, ...config };
    if (c.version !== VERSION && c.version !== VERSION_3) throw new RangeError("version must be 1 or 3");
    if (c.dtx && c.version !== VERSION_3) throw new RangeError("DTX needs packet version 3");
    const maxPrimary = c.version === VERSION_3 ? MAX_PRIMARY_V3 : MAX_PRIMARY;
    const inRange = (v, lo, hi) => Number.isInteger(v) && v >= lo && v <= hi;
    if (!inRange(c.payloadType, 0, MAX_PAYLOAD_TYPE)) throw new RangeError(`payloadType must be in 0..${MAX_PAYLOAD_TYPE}`);
    if (!inRange(c.sender, 0, MAX_SENDER)) throw new RangeError(`sender must be in 0..${MAX_SENDER}`);
    if (!inRange(c.framesPerPacket, 1, maxPrimary)) throw new RangeError(`framesPerPacket must be in 1..${maxPrimary}`);
    if (!inRange(c.parityPackets, 0, MAX_PARITY_COUNT)) throw new RangeError(`parityPackets must be in 0..${MAX_PARITY_COUNT}`);
    if (c.parityPackets && c.framesPerPacket > MAX_PARITY_BLOCKS) throw new RangeError("too many frames per packet for parity");
    if (!inRange(c.firstSeq, 0, SEQ_MOD - 1) || !inRange(c.firstTimestamp, 0, TS_MOD - 1)) {
      throw new RangeError("firstSeq / firstTimestamp out of range");
    }
    this.config = c;
    this._maxPrimary = maxPrimary;
    this.redundancy = c.redundancy;
    this._framesPerPacket = c.framesPerPacket;
    this.meanFrameBytes = 0; // of the frames pushed, a running mean (the last ~50)
    this._targets = []; // what the latest reports asked for, newest last
    this._seq = c.firstSeq;
    this._nextTs = c.firstTimestamp;
    this._pending = [];
    this._quiet = true;
    this._history = []; // frames already sent, at most MAX_REDUNDANT
    this._group = [];
    this._groupStart = 0;
    this._parity = [];
    this._silentRun = 0; // frames since the last one with speech
    this._dtxFrames = 0; // frames held back in the current pause
    this._inDtx = false;
    this._onset = false; // the next packet is the first after a pause
    this.framesPushed = 0;
    this.framesHeld = 0; // not sent: DTX
    this.keepalives = 0;
  }

  /** Whether the sender is in a pause (keep-alives, no frames). */
  get inDtx() {
    return this._inDtx;
  }

  get redundancy() {
    return this._redundancy;
  }

  set redundancy(frames) {
    if (!Number.isInteger(frames) || frames < 0 || frames > MAX_REDUNDANT) {
      throw new RangeError(`redundancy must be in 0..${MAX_REDUNDANT} frames`);
    }
    this._redundancy = frames;
  }

  /** Primary frames per packet, from the next packet on (see packetsize.js); a change starts a
   * new parity group (a group needs one size). */
  get framesPerPacket() {
    return this._framesPerPacket;
  }

  set framesPerPacket(frames) {
    if (!Number.isInteger(frames) || frames < 1 || frames > this._maxPrimary) {
      throw new RangeError(`framesPerPacket must be in 1..${this._maxPrimary}`);
    }
    if (this.config.parityPackets && frames > MAX_PARITY_BLOCKS) {
      throw new RangeError("too many frames per packet for parity");
    }
    if (frames !== this._framesPerPacket) {
      this._framesPerPacket = frames;
      this._group = [];
    }
  }

  /** Set the redundancy from a receiver report about this stream (see redundancyFor), never
   * below the configured amount; with `receivers` listeners (reports arrive in turn and do not
   * say who sent them) follow the worst of the last `receivers` reports. As in Python. */
  adapt(report, receivers = 1) {
    const target = redundancyFor(report, this._redundancy, this._framesPerPacket, this.config.redundancy);
    this._targets = [...this._targets, target].slice(-Math.max(1, receivers));
    this.redundancy = Math.max(...this._targets);
    return this._redundancy;
  }

  /** Timestamp (in frames, mod 2**24) the next pushed frame gets. */
  get nextTimestamp() {
    return (this._nextTs + this._pending.length) % TS_MOD;
  }

  /** Add one codec frame; returns the packets to send now. With DTX, `speech` is the VAD's
   * verdict and `level` the background level (-dBov) a keep-alive reports. */
  push(frame, quiet = false, speech = true, level = MAX_LEVEL) {
    this.framesPushed += 1;
    this.meanFrameBytes += (frame.length - this.meanFrameBytes) / Math.min(this.framesPushed, 50);
    const dtx = this.config.dtx;
    this._silentRun = speech ? 0 : this._silentRun + 1;
    if (dtx && this._silentRun > dtx.hangover) return this._hold(Uint8Array.from(frame), dtx, level);
    if (this._inDtx) {
      this._inDtx = false;
      this._onset = true;
    }
    this._pending.push(Uint8Array.from(frame));
    this._quiet = this._quiet && quiet;
    if (this._pending.length < this._framesPerPacket) return [];
    return [this._build()];
  }

  /** Send what is pending as a short packet; resets parity grouping. Ending in a pause, the
   * last frame goes out, so receivers know where the stream ends. */
  flush() {
    if (!this._pending.length && this._inDtx && this._history.length) {
      this._inDtx = false;
      this._nextTs = (this._nextTs - 1 + TS_MOD) % TS_MOD;
      this._pending = [this._history.pop()];
      this.framesHeld -= 1;
    }
    if (!this._pending.length) return [];
    const short = this._pending.length < this._framesPerPacket;
    const packet = this._build();
    if (short) this._group = [];
    return [packet];
  }

  // A frame in a pause: kept for the onset's redundancy, not sent; a keep-alive at the pause's
  // first frame and every dtx.keepalive frames.
  _hold(frame, dtx, level) {
    const out = this._pending.length ? this.flush() : [];
    const ts = this._nextTs;
    if (!this._inDtx) {
      this._inDtx = true;
      this._dtxFrames = 0;
      this._group = [];
    }
    if (this._dtxFrames % dtx.keepalive === 0) {
      out.push(buildPacket({ payloadType: this.config.payloadType, seq: this._seq, timestamp: ts,
        sender: this.config.sender, frames: [], quiet: true, version: VERSION_3,
        level: Math.max(0, Math.min(MAX_LEVEL, level)) }));
      this._seq = (this._seq + 1) % SEQ_MOD;
      this.keepalives += 1;
    }
    this._dtxFrames += 1;
    this.framesHeld += 1;
    this._history.push(frame);
    if (this._history.length > MAX_REDUNDANT) this._history.shift();
    this._nextTs = (ts + 1) % TS_MOD;
    return out;
  }

  _build() {
    const frames = this._pending;
    const firstTs = this._nextTs;
    let r = this._redundancy;
    if (this._onset && this.config.dtx) r = Math.max(r, this.config.dtx.onset);
    r = Math.min(r, this._history.length);
    const bytes = buildPacket({
      payloadType: this.config.payloadType, seq: this._seq, timestamp: firstTs, sender: this.config.sender,
      frames, redundant: this._history.slice(this._history.length - r), parity: this._parity, quiet: this._quiet,
      version: this.config.version,
    });
    this._parity = [];
    this._onset = false;
    this._history.push(...frames);
    if (this._history.length > MAX_REDUNDANT) this._history.splice(0, this._history.length - MAX_REDUNDANT);
    this._seq = (this._seq + 1) % SEQ_MOD;
    this._nextTs = (this._nextTs + frames.length) % TS_MOD;
    if (this.config.parityPackets) this._addToGroup(firstTs, frames);
    this._pending = [];
    this._quiet = true;
    return bytes;
  }

  // Collect full packets; after parityPackets of them, one block per frame position (column).
  _addToGroup(firstTs, frames) {
    const n = frames.length;
    if (n !== this._framesPerPacket) { // a short packet (flush) or one of a size just left: no group
      this._group = [];
      return;
    }
    if (!this._group.length) this._groupStart = firstTs;
    this._group.push(...frames);
    if (this._group.length === n * this.config.parityPackets) {
      this._parity = [];
      for (let j = 0; j < n; j++) {
        this._parity.push(makeParity(this._groupStart + j, n, this._group.filter((_, i) => i % n === j)));
      }
      this._group = [];
    }
  }
}

/** Redundancy (frames) a sender should use after `report` (same rule as transport/packetizer.py):
 * cover the longest burst of lost packets the receiver saw; step up while frames are still
 * concealed; step down one frame per clean report, never below `floor`. */
export function redundancyFor(report, current, framesPerPacket, floor = 2, ceiling = MAX_REDUNDANT) {
  const needed = report.maxBurst * framesPerPacket;
  let target;
  if (report.residualLoss > 0) target = Math.max(needed, current + framesPerPacket);
  else if (report.lossFraction === 0 && report.maxBurst === 0) target = current - 1;
  else target = Math.max(needed, current - 1);
  return Math.max(floor, Math.min(ceiling, target));
}
