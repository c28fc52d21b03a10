// The focalcall media packet and receiver report, byte-exact with transport/packet.py and
// transport/report.py (layout in transport/README.md). Pure functions: runs in the page, the
// codec worker and node (tests/js/). Malformed input throws PacketError and nothing else.

export const VERSION = 1;
export const VERSION_3 = 3; // N up to 8, DTX keep-alives (transport/README.md)
export const HEADER_SIZE = 8;
export const MAX_PAYLOAD_TYPE = 63;
export const MAX_PRIMARY = 4; // version 1
export const MAX_PRIMARY_V3 = 8;
export const MAX_LEVEL = 127; // keep-alive background level, -dBov
export const MAX_REDUNDANT = 15;
export const MAX_SENDER = 255;
export const SEQ_MOD = 1 << 16;
export const TS_MOD = 1 << 24;
export const MAX_VARINT = 0xffff;
export const MAX_PARITY_BLOCKS = 8;
export const MAX_PARITY_COUNT = 64;
export const MAX_PARITY_STRIDE = 16;
export const REPORT_TYPE = 1; // receiver report without queueing delay
export const REPORT_TYPE_DELAY = 2; // with it
export const REPORT_SIZE = 24; // type 1
export const REPORT_SIZE_DELAY = 28; // type 2: with queueing delay

export class PacketError extends Error {
  constructor(message) {
    super(message);
    this.name = "PacketError";
  }
}

function check(ok, message) {
  if (!ok) throw new PacketError(message);
}

const mod = (x, m) => ((x % m) + m) % m;
const isInt = (x) => Number.isInteger(x);

/** XOR parity over `count` frames at timestamps start + k*stride (mod 2**24). */
export function makeParityBlock(start, stride, count, lengthXor, payload) {
  check(isInt(start) && start >= 0 && start < TS_MOD, `parity start ${start} out of range`);
  check(isInt(stride) && stride >= 1 && stride <= MAX_PARITY_STRIDE,
    `parity stride ${stride} not in 1..${MAX_PARITY_STRIDE}`);
  check(isInt(count) && count >= 1 && count <= MAX_PARITY_COUNT,
    `parity count ${count} not in 1..${MAX_PARITY_COUNT}`);
  check(isInt(lengthXor) && lengthXor >= 0 && lengthXor <= MAX_VARINT,
    `parity length_xor ${lengthXor} out of range`);
  check(payload.length <= MAX_VARINT, "parity payload too long");
  return { start, stride, count, lengthXor, payload: Uint8Array.from(payload) };
}

export function parityTimestamps(block) {
  const out = [];
  for (let k = 0; k < block.count; k++) out.push((block.start + k * block.stride) % TS_MOD);
  return out;
}

/** Validate and normalise a packet object (the fields of transport.packet.Packet). */
export function makePacket({ payloadType, seq, timestamp, sender, frames, redundant = [],
  parity = [], quiet = false, version = VERSION, level = null }) {
  check(isInt(payloadType) && payloadType >= 0 && payloadType <= MAX_PAYLOAD_TYPE,
    `payload type ${payloadType} not in 0..${MAX_PAYLOAD_TYPE}`);
  check(isInt(seq) && seq >= 0 && seq < SEQ_MOD, `sequence number ${seq} out of range`);
  check(isInt(timestamp) && timestamp >= 0 && timestamp < TS_MOD, `timestamp ${timestamp} out of range`);
  check(isInt(sender) && sender >= 0 && sender <= MAX_SENDER, `sender id ${sender} not in 0..${MAX_SENDER}`);
  check(version === VERSION || version === VERSION_3, `unsupported packet version ${version}`);
  if (level !== null && level !== undefined) {
    check(version === VERSION_3, "keep-alive packets need version 3");
    check(isInt(level) && level >= 0 && level <= MAX_LEVEL, `keep-alive level ${level} not in 0..${MAX_LEVEL}`);
    check(!frames.length && !redundant.length && !parity.length && quiet, "a keep-alive carries no frames and is quiet");
    return { payloadType, seq, timestamp, sender, quiet: true, version, level, frames: [], redundant: [], parity: [] };
  }
  const most = version === VERSION_3 ? MAX_PRIMARY_V3 : MAX_PRIMARY;
  check(frames.length >= 1 && frames.length <= most, `${frames.length} primary frames, expected 1..${most}`);
  check(redundant.length <= MAX_REDUNDANT, `${redundant.length} redundant frames, at most ${MAX_REDUNDANT}`);
  check(parity.length <= MAX_PARITY_BLOCKS, `more than ${MAX_PARITY_BLOCKS} parity blocks`);
  for (const f of [...redundant, ...frames]) check(f.length <= MAX_VARINT, `frame of ${f.length} bytes is too long`);
  for (const b of parity) {
    check(mod(timestamp - b.start, TS_MOD) <= MAX_VARINT, "parity block starts too far before the packet");
  }
  return {
    payloadType, seq, timestamp, sender, quiet: Boolean(quiet), version, level: null,
    frames: frames.map((f) => Uint8Array.from(f)),
    redundant: redundant.map((f) => Uint8Array.from(f)),
    parity: parity.map((b) => makeParityBlock(b.start, b.stride, b.count, b.lengthXor, b.payload)),
  };
}

/** [timestamp mod 2**24, frame, isPrimary] for every frame, oldest first. */
export function packetItems(packet) {
  const all = [...packet.redundant, ...packet.frames];
  const first = packet.timestamp - packet.redundant.length;
  return all.map((f, i) => [mod(first + i, TS_MOD), f, i >= packet.redundant.length]);
}

function putVarint(out, value) {
  while (value >= 0x80) {
    out.push((value & 0x7f) | 0x80);
    value >>>= 7;
  }
  out.push(value);
}

function fixedLength(frames) {
  const length = frames[0].length;
  if (length >= 1 && length <= 255 && frames.every((f) => f.length === length)) return length;
  return 0;
}

/** The canonical wire encoding of a packet (validated first). */
export function buildPacket(fields) {
  const p = makePacket(fields);
  const all = [...p.redundant, ...p.frames];
  const n = p.frames.length;
  const r = p.redundant.length;
  const q = (p.quiet ? 1 : 0) << 7;
  const par = (p.parity.length ? 1 : 0) << 6;
  const keepalive = p.level !== null;
  const flags = p.version === VERSION ? q | par | ((n - 1) << 4) | r
    : q | par | ((keepalive ? 1 : 0) << 5) | (Math.max(0, n - 1) << 2);
  const out = [
    (p.version << 6) | p.payloadType, flags,
    p.seq >> 8, p.seq & 0xff,
    (p.timestamp >> 16) & 0xff, (p.timestamp >> 8) & 0xff, p.timestamp & 0xff,
    p.sender,
  ];
  if (keepalive) {
    out.push(p.level);
    return Uint8Array.from(out);
  }
  if (p.version === VERSION_3) out.push(r);
  const fixed = fixedLength(all);
  out.push(fixed);
  if (!fixed) for (const f of all) putVarint(out, f.length);
  for (const f of all) for (const byte of f) out.push(byte);
  if (p.parity.length) {
    putVarint(out, p.parity.length);
    for (const b of p.parity) {
      for (const v of [mod(p.timestamp - b.start, TS_MOD), b.stride, b.count, b.lengthXor, b.payload.length]) {
        putVarint(out, v);
      }
      for (const byte of b.payload) out.push(byte);
    }
  }
  return Uint8Array.from(out);
}

class Reader {
  constructor(data, what) {
    this.data = data;
    this.pos = 0;
    this.what = what;
  }

  take(n, name) {
    check(this.pos + n <= this.data.length,
      `truncated ${this.what}: ${name} needs ${n} bytes at offset ${this.pos}, ${this.data.length - this.pos} left`);
    const chunk = this.data.subarray(this.pos, this.pos + n);
    this.pos += n;
    return chunk;
  }

  varint(name) {
    let value = 0;
    let shift = 0;
    let byte;
    const start = this.pos;
    for (;;) {
      byte = this.take(1, name)[0];
      value += (byte & 0x7f) * 2 ** shift;
      if (!(byte & 0x80)) break;
      shift += 7;
      check(shift < 21, `varint ${name} at offset ${start} longer than 3 bytes`);
    }
    check(this.pos - start === 1 || byte !== 0, `varint ${name} at offset ${start} is not minimal`);
    check(value <= MAX_VARINT, `varint ${name} at offset ${start} exceeds ${MAX_VARINT}`);
    return value;
  }

  end() {
    check(this.pos === this.data.length,
      `${this.data.length - this.pos} trailing bytes after ${this.what} at offset ${this.pos}`);
  }
}

function asBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new PacketError(`expected bytes, got ${data === null ? "null" : typeof data}`);
}

/** Parse one datagram; anything build() would not produce throws PacketError. */
export function parsePacket(data) {
  const rd = new Reader(asBytes(data), "packet");
  const head = rd.take(HEADER_SIZE + 1, "header");
  const version = head[0] >> 6;
  check(version === VERSION || version === VERSION_3, `unsupported packet version ${version} (expected 1 or 3)`);
  const flags = head[1];
  const timestamp = (head[4] << 16) | (head[5] << 8) | head[6];
  const common = { payloadType: head[0] & 0x3f, seq: (head[2] << 8) | head[3], timestamp, sender: head[7], version };
  let n, r, fixed;
  if (version === VERSION) {
    n = ((flags >> 4) & 0x3) + 1;
    r = flags & 0xf;
    fixed = head[8];
  } else {
    check((flags & 0x3) === 0, "reserved bits of byte 1 are set");
    if (flags & 0x20) {
      check((flags & 0xdc) === 0x80, "a keep-alive has Q set and no parity or frames");
      rd.end();
      check(head[8] <= MAX_LEVEL, `keep-alive level ${head[8]} not in 0..${MAX_LEVEL}`);
      return makePacket({ ...common, frames: [], quiet: true, level: head[8] });
    }
    n = ((flags >> 2) & 0x7) + 1;
    r = head[8];
    check(r <= MAX_REDUNDANT, `${r} redundant frames, at most ${MAX_REDUNDANT}`);
    fixed = rd.take(1, "L")[0];
  }
  let lengths;
  if (fixed) {
    lengths = new Array(r + n).fill(fixed);
  } else {
    lengths = [];
    for (let i = 0; i < r + n; i++) lengths.push(rd.varint(`length of frame ${i}`));
    check(!(lengths[0] >= 1 && lengths[0] <= 255 && lengths.every((l) => l === lengths[0])),
      "frame lengths are all equal but L is 0 (non-canonical)");
  }
  const frames = lengths.map((length, i) => rd.take(length, `frame ${i}`));
  const parity = [];
  if (flags & 0x40) {
    const count = rd.varint("parity block count");
    check(count >= 1 && count <= MAX_PARITY_BLOCKS, `parity block count ${count} not in 1..${MAX_PARITY_BLOCKS}`);
    for (let i = 0; i < count; i++) {
      const [back, stride, covered, lengthXor, size] = ["offset", "stride", "count", "length_xor", "size"]
        .map((name) => rd.varint(`parity block ${i} ${name}`));
      parity.push(makeParityBlock(mod(timestamp - back, TS_MOD), stride, covered, lengthXor,
        rd.take(size, `parity block ${i} payload`)));
    }
  }
  rd.end();
  return makePacket({
    ...common, frames: frames.slice(r), redundant: frames.slice(0, r), parity, quiet: Boolean(flags & 0x80),
  });
}

function xorInto(acc, frame) {
  for (let i = 0; i < frame.length; i++) acc[i] ^= frame[i];
}

/** The parity block covering `frames`, which sit at start + k*stride. */
export function makeParity(start, stride, frames) {
  const acc = new Uint8Array(Math.max(0, ...frames.map((f) => f.length)));
  let lengthXor = 0;
  for (const f of frames) {
    xorInto(acc, f);
    lengthXor ^= f.length;
  }
  return makeParityBlock(mod(start, TS_MOD), stride, frames.length, lengthXor, acc);
}

/** Rebuild the one missing frame of `block`: [ts, frame] or null (nothing or >1 missing,
 * or parity inconsistent with the frames held). `lookup(ts)` gives a frame or null. */
export function recoverParity(block, timestamps, lookup) {
  const acc = Uint8Array.from(block.payload);
  let length = block.lengthXor;
  let missing = null;
  for (const ts of timestamps) {
    const frame = lookup(ts);
    if (frame == null) {
      if (missing !== null) return null;
      missing = ts;
      continue;
    }
    if (frame.length > acc.length) return null;
    xorInto(acc, frame);
    length ^= frame.length;
  }
  if (missing === null || length > acc.length || acc.subarray(length).some((b) => b !== 0)) return null;
  return [missing, acc.slice(0, length)];
}

// ---- receiver report (type 1: 24 bytes; type 2: 28, with queueing delay; big-endian) ----

const sat = (value, top, bottom = 0) => Math.max(bottom, Math.min(top, Math.round(value)));
const fraction = (value) => Math.min(255, Math.max(0, Math.floor(value * 256)));
// Python's round() on the report's float fields: halves to even, as transport/report.py.
const roundEven = (x) => {
  const f = Math.floor(x);
  const d = x - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
};
const satEven = (value, top, bottom = 0) => Math.max(bottom, Math.min(top, roundEven(value)));

/** The wire bytes of a report: type 2 (28 bytes) when it has `queueDelayMs` and `delayTrend`
 *  (ms of one-way delay per s), type 1 (24 bytes) when both are null or absent. */
export function buildReport(r) {
  check(isInt(r.sender) && r.sender >= 0 && r.sender <= MAX_SENDER, `sender id ${r.sender} not in 0..${MAX_SENDER}`);
  check(isInt(r.highestSeq) && r.highestSeq >= 0 && r.highestSeq < SEQ_MOD,
    `sequence number ${r.highestSeq} out of range`);
  for (const name of ["lossFraction", "residualLoss"]) {
    const v = r[name] ?? 0;
    check(v >= 0 && v <= 1, `${name} ${v} not in [0, 1]`);
  }
  const queue = r.queueDelayMs ?? null;
  const trend = r.delayTrend ?? null;
  check((queue === null) === (trend === null), "queueDelayMs and delayTrend go together (both or neither)");
  check(queue === null || (queue >= 0 && Number.isFinite(trend)), `queueDelayMs ${queue} must be non-negative`);
  const delay = queue !== null;
  const out = new Uint8Array(delay ? REPORT_SIZE_DELAY : REPORT_SIZE);
  const dv = new DataView(out.buffer);
  dv.setUint8(0, (VERSION << 6) | (delay ? REPORT_TYPE_DELAY : REPORT_TYPE));
  dv.setUint8(1, r.sender);
  dv.setUint16(2, r.highestSeq);
  dv.setUint8(4, fraction(r.lossFraction ?? 0));
  dv.setUint8(5, fraction(r.residualLoss ?? 0));
  dv.setUint8(6, sat(r.maxBurst ?? 0, 255));
  check(Number.isInteger(r.maxKbps ?? 0) && (r.maxKbps ?? 0) >= 0 && (r.maxKbps ?? 0) <= 255,
    `maxKbps ${r.maxKbps} not in 0..255`);
  dv.setUint8(7, r.maxKbps ?? 0); // the receiver's cap on this stream, kbit/s on the wire; 0: none
  dv.setUint16(8, sat((r.jitterMs ?? 0) * 10, 0xffff));
  dv.setUint16(10, sat(r.playoutDelayMs ?? 0, 0xffff));
  dv.setUint16(12, sat(r.targetDelayMs ?? 0, 0xffff));
  dv.setUint16(14, sat(r.recovered ?? 0, 0xffff));
  dv.setUint32(16, sat(r.concealedTotal ?? 0, 0xffffffff));
  dv.setUint32(20, sat(r.lostTotal ?? 0, 0xffffffff));
  if (delay) {
    dv.setUint16(24, satEven(queue, 0xffff)); // mean queueing delay, ms
    dv.setInt16(26, satEven(trend * 10, 0x7fff, -0x8000)); // delay trend, 0.1 ms per s
  }
  return out;
}

export function parseReport(data) {
  const b = asBytes(data);
  check(b.length > 0, "receiver report is empty");
  const head = b[0];
  const type = head & 0x3f;
  check(head >> 6 === VERSION && (type === REPORT_TYPE || type === REPORT_TYPE_DELAY),
    `not a version ${VERSION} receiver report (first byte 0x${head.toString(16).padStart(2, "0")})`);
  const size = type === REPORT_TYPE_DELAY ? REPORT_SIZE_DELAY : REPORT_SIZE;
  check(b.length === size, `receiver report of type ${type} must be ${size} bytes, got ${b.length}`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const delay = type === REPORT_TYPE_DELAY;
  return {
    sender: dv.getUint8(1), highestSeq: dv.getUint16(2), lossFraction: dv.getUint8(4) / 256,
    residualLoss: dv.getUint8(5) / 256, maxBurst: dv.getUint8(6), jitterMs: dv.getUint16(8) / 10,
    playoutDelayMs: dv.getUint16(10), targetDelayMs: dv.getUint16(12), recovered: dv.getUint16(14),
    concealedTotal: dv.getUint32(16), lostTotal: dv.getUint32(20), maxKbps: dv.getUint8(7),
    queueDelayMs: delay ? dv.getUint16(24) : null, delayTrend: delay ? dv.getInt16(26) / 10 : null,
  };
}
