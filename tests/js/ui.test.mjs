// The call page's pure UI logic: invite links, speaking detection, connection quality, retries, messages.
import assert from "node:assert/strict";
import { test } from "node:test";

import { inviteLink, readInvite, withSecretsInFragment } from "../../web/js/invite.js";
import { e2eeMessage } from "../../web/js/messages.js";
import { SpeakingDetector, meterValue } from "../../web/js/speaking.js";
import { StreamQuality, describe, gradeFigures, reportFigures, windowFigures } from "../../web/js/quality.js";
import { Backoff } from "../../web/js/backoff.js";
import { packing } from "../../web/js/connection-panel.js";

const PAGE = "https://calls.example/?room=standup&name=Ada&autojoin=1";

test("invite: room in the query, token and key only in the fragment, no name or switches", () => {
  const link = inviteLink(PAGE, { room: "standup", token: "t.1-2", key: "k_9" });
  assert.equal(link, "https://calls.example/?room=standup#token=t.1-2&key=k_9");
  assert.equal(inviteLink(PAGE, { room: "a b" }), "https://calls.example/?room=a+b");
  assert.deepEqual(readInvite(link), { room: "standup", name: null, token: "t.1-2", key: "k_9" });
  assert.throws(() => inviteLink(PAGE, { room: "" }), /needs a room/);
});

test("invite: secrets opened in the query move to the fragment; the fragment wins", () => {
  const opened = "https://calls.example/app/?room=r1&token=abc&listen=1#key=K";
  assert.deepEqual(readInvite(opened), { room: "r1", name: null, token: "abc", key: "K" });
  assert.equal(withSecretsInFragment(opened), "https://calls.example/app/?room=r1&listen=1#key=K&token=abc");
  assert.equal(withSecretsInFragment("https://calls.example/?room=r1#token=x"), null); // nothing to move
  assert.equal(readInvite("https://calls.example/?token=old#token=new").token, "new");
  // A link whose secrets still sit in the query (made before they moved) invites the same way.
  const invite = readInvite("https://calls.example/?room=r1&token=abc");
  assert.equal(inviteLink(PAGE, invite), "https://calls.example/?room=r1#token=abc");
});

test("invite: what `focalcall token --invite` makes (a JWT, a room key per epoch) reads back", () => {
  const key = "0:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8,1:Hx4dHBsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA";
  const link = "https://calls.example/?room=stand%20up#token=eyJh.eyJz.c2ln&key=" + key.replace(",", "%2C");
  assert.deepEqual(readInvite(link), { room: "stand up", name: null, token: "eyJh.eyJz.c2ln", key });
  assert.deepEqual(readInvite(inviteLink(PAGE, readInvite(link))), readInvite(link));
  assert.deepEqual(readInvite("http://127.0.0.1:8080/"), { room: null, name: null, token: null, key: null });
});

test("speaking: lights on a loud block, holds through short pauses, goes out after the hang time", () => {
  const d = new SpeakingDetector({ on: 0.05, off: 0.02, hangMs: 600 });
  assert.equal(d.update(0.01, 0), false);
  assert.equal(d.update(0.04, 100), false); // between the thresholds: not a start
  assert.equal(d.update(0.2, 200), true);
  assert.equal(d.update(0.03, 300), true); // above "off" while speaking: still loud
  assert.equal(d.update(0.001, 800), true); // a pause shorter than the hang time
  assert.equal(d.update(0.001, 950), false);
  assert.throws(() => new SpeakingDetector({ on: 0.01, off: 0.02 }), RangeError);
});

test("meter: a dB scale from -60 dBFS to full scale", () => {
  assert.equal(meterValue(0), 0);
  assert.equal(meterValue(1), 1);
  assert.equal(meterValue(2), 1);
  assert.ok(Math.abs(meterValue(0.001)) < 1e-9);
  assert.ok(Math.abs(meterValue(0.1) - 2 / 3) < 1e-9);
});

const summary = (o) => ({ framesPlayed: 0, framesConcealed: 0, underruns: 0, packetsExpected: 0, packetsReceived: 0,
  bufferDelayMs: 40, jitterMs: 2, ...o });

test("quality: good, fair and poor from concealment, loss and delay over the window", () => {
  const q = new StreamQuality(5000);
  assert.equal(q.grade().grade, null);
  q.push(summary({ framesPlayed: 10, framesConcealed: 10 }), -1000); // start-up priming: left out
  q.push(summary({}), 0);
  assert.equal(q.grade().grade, null);
  q.push(summary({ framesPlayed: 50, packetsExpected: 25, packetsReceived: 25 }), 0);
  q.push(summary({ framesPlayed: 250, packetsExpected: 125, packetsReceived: 125 }), 5000);
  assert.equal(q.grade().grade, "good");
  // 5 % of frames lost for good: poor, whatever the rest says
  q.push(summary({ framesPlayed: 500, framesConcealed: 13, packetsExpected: 250, packetsReceived: 200 }), 10000);
  const poor = q.grade();
  assert.equal(poor.grade, "poor");
  assert.deepEqual(poor.reasons, ["concealed", "lossAfter"]);
  assert.match(describe(poor), /^poor: 5\.2 % of audio concealed, 5\.2 % lost after recovery, 40 % of packets/);
  // The window forgets: the next clean 5 s are good again, though the loss before recovery shows.
  q.push(summary({ framesPlayed: 750, framesConcealed: 13, packetsExpected: 375, packetsReceived: 300 }), 15000);
  const after = q.grade();
  assert.equal(after.grade, "fair");
  assert.deepEqual(after.reasons, ["lossBefore"]);
});

test("quality: underruns count as concealed (heard) but not as lost; a slow buffer is poor", () => {
  const f = windowFigures(summary({}), summary({ framesPlayed: 100, framesConcealed: 3, underruns: 3,
    bufferDelayMs: 250 }));
  assert.equal(f.lossAfter, 0);
  assert.equal(f.concealed, 0.03);
  assert.equal(gradeFigures(f).grade, "fair");
  assert.equal(gradeFigures({ ...f, delayMs: 450 }).grade, "poor");
  assert.equal(windowFigures(summary({ framesPlayed: 7 }), summary({ framesPlayed: 7 })), null);
});

test("quality: a receiver report about our stream grades our uplink", () => {
  const g = gradeFigures(reportFigures({ residualLoss: 0, lossFraction: 0.6, playoutDelayMs: 60, jitterMs: 3 }));
  assert.equal(g.grade, "poor");
  assert.deepEqual(g.reasons, ["lossBefore"]);
  assert.doesNotMatch(describe(g), /after recovery/);
});

test("backoff: 1, 2, 4, 8, 8 s with jitter, reset on success, gives up after the limit", () => {
  const b = new Backoff({ delaysS: [1, 2, 4, 8], maxAttempts: 6, jitter: 0.2, random: () => 0.5 });
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => b.next()), [1000, 2000, 4000, 8000, 8000, 8000]);
  assert.equal(b.next(), null); // exhausted
  b.reset();
  assert.equal(b.next(), 1000);
  const low = new Backoff({ delaysS: [10], jitter: 0.2, random: () => 0 });
  assert.equal(low.next(), 8000);
});

test("e2ee message: only when packets that do not open keep arriving", () => {
  assert.match(e2eeMessage({ "sealed-no-key": 3 }, {}, false), /open the invite link that carries the room key/);
  assert.equal(e2eeMessage({ "sealed-no-key": 3 }, { "sealed-no-key": 3 }, false), null); // nothing new
  assert.match(e2eeMessage({ undecryptable: 1 }, {}, false), /different room key/);
  assert.equal(e2eeMessage({ undecryptable: 1 }, {}, true), null); // others are heard: a stray packet
  assert.equal(e2eeMessage({ replayed: 5 }, {}, false), null);
});

test("connection panel: how the page packs what it sends, and the cap in force", () => {
  assert.equal(packing({ framesPerPacket: 8, redundancy: 8, capBps: 12000 }),
    ", 8 frames and 8 redundant a packet, under a cap of 12.0 kbit/s");
  assert.equal(packing({ framesPerPacket: 2, redundancy: 7, capBps: null }), ", 2 frames and 7 redundant a packet");
  assert.equal(packing({ framesPerPacket: null, redundancy: null, capBps: null }), ""); // listening only
});
