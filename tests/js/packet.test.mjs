// The JavaScript packet format against the shared vectors in tests/vectors/ (run: node --test tests/js/).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { PacketError, buildPacket, buildReport, packetItems, parsePacket, parseReport }
  from "../../web/js/packet.js";

const vectors = (name) => JSON.parse(readFileSync(new URL(`../vectors/${name}`, import.meta.url)));
const hex = (s) => Uint8Array.from(Buffer.from(s, "hex"));
const toHex = (b) => Buffer.from(b).toString("hex");

function fromVector(f) {
  return {
    payloadType: f.payload_type, seq: f.seq, timestamp: f.timestamp, sender: f.sender, quiet: f.quiet,
    frames: f.frames.map(hex), redundant: f.redundant.map(hex),
    parity: f.parity.map((b) => ({ start: b.start, stride: b.stride, count: b.count, lengthXor: b.length_xor,
      payload: hex(b.payload) })),
    version: f.version ?? 1, level: f.level ?? null,
  };
}

const packets = vectors("packets.json");

test("there are vectors", () => {
  assert.ok(packets.valid.length >= 5);
  assert.ok(packets.invalid.length >= 5);
});

for (const v of packets.valid) {
  test(`build: ${v.name}`, () => {
    assert.equal(toHex(buildPacket(fromVector(v.fields))), v.hex);
  });

  test(`parse: ${v.name}`, () => {
    const p = parsePacket(hex(v.hex));
    const want = fromVector(v.fields);
    for (const key of ["payloadType", "seq", "timestamp", "sender", "quiet", "version", "level"]) {
      assert.equal(p[key], want[key], key);
    }
    assert.deepEqual(p.frames.map(toHex), v.fields.frames);
    assert.deepEqual(p.redundant.map(toHex), v.fields.redundant);
    assert.deepEqual(p.parity.map((b) => [b.start, b.stride, b.count, b.lengthXor, toHex(b.payload)]),
      v.fields.parity.map((b) => [b.start, b.stride, b.count, b.length_xor, b.payload]));
    assert.equal(toHex(buildPacket(p)), v.hex);
  });
}

for (const v of packets.invalid) {
  test(`reject: ${v.name}`, () => {
    assert.throws(() => parsePacket(hex(v.hex)), (err) => err instanceof PacketError && err.message.includes(v.error),
      `expected a PacketError mentioning ${JSON.stringify(v.error)}`);
  });
}

test("every truncation of a valid packet is rejected with PacketError", () => {
  for (const v of packets.valid) {
    const bytes = hex(v.hex);
    for (let n = 0; n < bytes.length; n++) assert.throws(() => parsePacket(bytes.subarray(0, n)), PacketError);
  }
});

test("items give redundant frames the timestamps before the primary ones, wrapping", () => {
  const p = parsePacket(hex(packets.valid[1].hex));
  const items = packetItems(p);
  assert.equal(items.length, 10);
  assert.deepEqual(items.map(([ts]) => ts).slice(-3), [16777213, 16777214, 16777215]);
  assert.deepEqual(items.map(([, , primary]) => primary).filter(Boolean).length, 2);
});

test("building rejects out-of-range fields", () => {
  const ok = { payloadType: 1, seq: 0, timestamp: 0, sender: 0, frames: [hex("ab")] };
  assert.throws(() => buildPacket({ ...ok, payloadType: 64 }), /payload type/);
  assert.throws(() => buildPacket({ ...ok, seq: 65536 }), /sequence number/);
  assert.throws(() => buildPacket({ ...ok, sender: 256 }), /sender id/);
  assert.throws(() => buildPacket({ ...ok, frames: [] }), /primary frames/);
  assert.throws(() => parsePacket("not bytes"), PacketError);
});

const reports = vectors("reports.json");

for (const [i, v] of reports.valid.entries()) {
  test(`report ${i}: build and parse`, () => {
    const f = v.fields;
    const fields = { sender: f.sender, highestSeq: f.highest_seq, lossFraction: f.loss_fraction,
      residualLoss: f.residual_loss, maxBurst: f.max_burst, jitterMs: f.jitter_ms,
      playoutDelayMs: f.playout_delay_ms, targetDelayMs: f.target_delay_ms, recovered: f.recovered,
      concealedTotal: f.concealed_total, lostTotal: f.lost_total, maxKbps: f.max_kbps ?? 0,
      queueDelayMs: f.queue_delay_ms ?? null, delayTrend: f.delay_trend ?? null };
    assert.equal(toHex(buildReport(fields)), v.hex);
    const parsed = parseReport(hex(v.hex));
    assert.equal(parsed.sender, f.sender);
    assert.equal(parsed.highestSeq, f.highest_seq);
    assert.equal(parsed.lostTotal, f.lost_total);
    assert.equal(parsed.maxKbps, f.max_kbps ?? 0);
    assert.equal(parsed.queueDelayMs, f.queue_delay_ms ?? null);
    assert.equal(parsed.delayTrend, f.delay_trend ?? null);
    assert.equal(toHex(buildReport(parsed)), v.hex);
  });
}

for (const v of reports.invalid) {
  test(`report reject: ${v.name}`, () => {
    assert.throws(() => parseReport(hex(v.hex)), (err) => err instanceof PacketError && err.message.includes(v.error));
  });
}
