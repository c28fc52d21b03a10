// The page's sealed packets against the shared vectors (tests/vectors/e2ee.json), as tests/test_e2ee.py does.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { E2eeError, Opener, SEAL_OVERHEAD, Sealer, parseKeyring, parseSealedHeader } from "../../web/js/e2ee.js";
import { PacketError } from "../../web/js/packet.js";

const vectors = JSON.parse(readFileSync(new URL("../vectors/e2ee.json", import.meta.url)));
const hex = (s) => Uint8Array.from(Buffer.from(s, "hex"));
const toHex = (b) => Buffer.from(b).toString("hex");
const ring = await parseKeyring(vectors.keys);

for (const v of vectors.valid) {
  test(`seal: ${v.name}`, async () => {
    assert.equal(ring.currentEpoch, v.epoch);
    const sealer = new Sealer(ring, { random: () => hex(v.session) });
    const sealed = await sealer.seal(hex(v.plain));
    assert.equal(toHex(sealed), v.sealed);
    assert.equal(sealed.length, hex(v.plain).length + SEAL_OVERHEAD);
  });

  test(`open: ${v.name}`, async () => {
    assert.equal(toHex(await new Opener(ring).open(hex(v.sealed))), v.plain);
    const h = parseSealedHeader(hex(v.sealed));
    assert.equal(toHex(h.session), v.session);
    assert.equal(h.epoch, v.epoch);
  });
}

for (const v of vectors.invalid) {
  test(`reject: ${v.name}`, async () => {
    await assert.rejects(new Opener(ring).open(hex(v.hex)), (err) => err instanceof E2eeError
      && err instanceof PacketError && err.reason === v.reason && err.message.includes(v.error),
    `expected E2eeError ${v.reason} mentioning ${JSON.stringify(v.error)}`);
  });
}

test("replay window", async () => {
  const opener = new Opener(ring);
  for (const step of vectors.replay) {
    if (step.expect === "ok") assert.equal(toHex(await opener.open(hex(step.hex))), step.plain);
    else await assert.rejects(opener.open(hex(step.hex)), (err) => err.reason === "replayed");
  }
});

test("two copies opened at once: one is a replay", async () => {
  const sealed = hex(vectors.replay[0].hex);
  const opener = new Opener(ring);
  await opener.open(hex(vectors.replay[1].hex)); // a session already known
  const results = await Promise.allSettled([opener.open(sealed), opener.open(sealed)]);
  assert.deepEqual(results.map((r) => r.status).sort(), ["fulfilled", "rejected"]);
});

test("a restarted sequence starts a new session", async () => {
  let n = 0;
  const sealer = new Sealer(ring, { random: (k) => new Uint8Array(k).fill(++n) });
  const plain = hex(vectors.valid[0].plain);
  const again = async () => parseSealedHeader(await sealer.seal(plain)).session[0];
  assert.equal(await again(), 1);
  assert.equal(await again(), 2); // the same sequence number twice: never the same nonce
});

test("keyring errors", async () => {
  const cases = [["", "no room key"], ["1:abc", "43 base64url"], ["x:" + "A".repeat(43), "epoch must be"],
    ["300:" + "A".repeat(43), "0..255"], ["A".repeat(42) + "!", "base64url"]];
  for (const [text, message] of cases) {
    await assert.rejects(parseKeyring(text), (err) => err.message.includes(message), text);
  }
});
