// The codec worker: the neural codec's streaming ONNX encoder and decoders (onnxruntime-web,
// WASM, one thread), the packetizer and one jitter buffer per sender. Capture frames arrive
// from the capture worklet and decoded frames go to the playout worklet over MessagePorts;
// the main thread only carries packets to and from the data channel and shows statistics.
//
// Main thread -> worker: {type: "init", modelUrl, ortUrl, payloadTypes: {pt: bits}} · {type: "ports", capture, playout}
//   · {type: "key", keyring} (the next call's room keys from e2ee.parseKeyring, or null)
//   · {type: "send", sender, payloadType, bits, framesPerPacket, redundancy, dtx, maxBitrate} · {type: "stop"}
//   · {type: "packet", data, arrival} · {type: "control", data} (a receiver report about us)
//   · {type: "forget", sender} · {type: "clock", offset} · {type: "listeners", count}
// Worker -> main: {type: "ready", meta, loadMs} · {type: "packet", data} · {type: "stats", ...}
//   · {type: "report", data} (a receiver report for the control channel)
//   · {type: "error", message}

import { JitterBuffer } from "./jitter.js";
import { MAX_PRIMARY, MAX_PRIMARY_V3, PacketError, buildReport, parsePacket, parseReport } from "./packet.js";
import { DTX_DEFAULTS, Packetizer } from "./packetizer.js";
import { PacketSizer, followReport, mostFrames, sizeConfig } from "./packetsize.js";
import { Vad } from "./vad.js";
import { packBits, unpackBits } from "./focal-payload.js";
import { CodeConcealer, loadPredictor } from "./concealer.js";
import { E2eeError, Opener, Sealer, isSealed } from "./e2ee.js";

let ort = null;
let meta = null;
let encoderSession = null;
let decoderSession = null;
let predictor = null; // the next-code predictor for concealment (null: none shipped)
let encoder = null; // {state, bits, vad, packetizer, sizer, sealer}
let sender = null;
const receivers = new Map(); // sender id -> {jitter, state, bits, concealer}
let playout = null;
let clockOffset = 0; // epoch ms = contextTime * 1000 + clockOffset (from the main thread)
let queue = Promise.resolve(); // one-off jobs (init, roundtrip), one at a time
const pendingFrames = []; // captured frames waiting to be encoded
let pendingTicks = 0; // playout ticks waiting to be served
let pumping = false;
let droppedFrames = 0; // captured frames skipped because the worker fell behind
const MAX_PENDING_FRAMES = 20; // 400 ms: beyond this, old frames are skipped, not queued
const MAX_PENDING_TICKS = 15; // 300 ms of playout ticks not yet served (see "ports")
let skippedTicks = 0; // playout ticks dropped because the worker was that far behind
const timing = { encodeMs: [], decodeMs: [] };
const marks = { capture: [] }; // [packet timestamp, epoch ms] of captured frames (debug/bench)
let sentBytes = 0;
let sentPayloadBytes = 0;
let malformed = 0;
let muted = false;
let listeners = 1; // others in the room: the redundancy covers the worst of their reports
let payloadBits = {}; // payload type -> code bits of that focal mode
const unsupported = {}; // sender id -> payload type this page cannot decode
let dropPattern = null; // {k, n}: a test hook, see receive()
let receivedCount = 0;
let keyring = null; // the room key(s) when the call is end-to-end encrypted
let opener = null;
const e2eeDropped = {}; // reason -> packets dropped (undecryptable, replayed, sealed-no-key, ...)
const decodedLogs = new Map(); // sender id -> [[ts, code bytes | null]] as decoded (debug hook)

const now = () => performance.timeOrigin + performance.now();

function serial(job) {
  queue = queue.then(job).catch((err) => postMessage({ type: "error", message: String(err && err.message || err) }));
  return queue;
}

// Lets queued messages (packets) run. A MessageChannel round trip, not setTimeout(0), which
// browsers clamp to 4 ms when nested: that would cap the loop near 100 jobs a second.
const yieldChannel = new MessageChannel();
const yieldWaiters = [];
yieldChannel.port1.onmessage = () => yieldWaiters.shift()?.();
function yieldToEvents() {
  return new Promise((resolve) => {
    yieldWaiters.push(resolve);
    yieldChannel.port2.postMessage(null);
  });
}

// The real-time work loop: serve playout ticks first (a late tick is an audible gap), then
// encode. It yields to the event loop before every job, so the packets that arrived while the
// worker was starved of CPU are in the jitter buffer before the ticks it missed pop from it
// (else those pops find nothing and conceal frames that are there, only not yet read); when it
// is far behind, the oldest captured frames are skipped instead of growing the delay without bound.
async function pump() {
  if (pumping || !meta) return;
  pumping = true;
  try {
    await yieldToEvents();
    while (pendingTicks > 0 || pendingFrames.length > 0) {
      if (pendingTicks > 0) {
        pendingTicks -= 1;
        await tick();
      } else {
        const { frame, time } = pendingFrames.shift();
        await encodeFrame(frame, time);
      }
      await yieldToEvents();
    }
  } catch (err) {
    postMessage({ type: "error", message: String(err && err.message || err) });
  } finally {
    pumping = false;
  }
}

function tensor(data, dims) {
  return new ort.Tensor("float32", data, dims);
}

async function init({ modelUrl, ortUrl, payloadTypes, drop }) {
  const started = now();
  payloadBits = payloadTypes;
  dropPattern = drop;
  ort = await import(ortUrl);
  ort.env.wasm.numThreads = 1; // 2 threads need cross-origin isolation and were slower on 2 cores
  ort.env.wasm.proxy = false;
  const response = await fetch(modelUrl);
  if (!response.ok) throw new Error(`cannot load the codec description ${modelUrl}: HTTP ${response.status}`);
  meta = await response.json();
  const base = new URL(".", new URL(modelUrl, location.href));
  const options = { executionProviders: ["wasm"], graphOptimizationLevel: "all" };
  encoderSession = await ort.InferenceSession.create(new URL(meta.encoder_onnx, base).href, options);
  decoderSession = await ort.InferenceSession.create(new URL(meta.decoder_onnx, base).href, options);
  predictor = await loadPredictor(ort, base, options);
  // The first run of a session is far slower than the rest (kernels set up, weights packed):
  // pay it now, not when the first packet of a call arrives and playout is waiting.
  await encoderSession.run({ pcm: tensor(new Float32Array(meta.hop), [1, meta.hop]),
    state: tensor(new Float32Array(meta.encoder_state_size), [1, meta.encoder_state_size]) });
  await decoderSession.run({ code: tensor(new Float32Array(meta.bits), [1, meta.bits]),
    state: tensor(new Float32Array(meta.decoder_state_size), [1, meta.decoder_state_size]) });
  postMessage({ type: "ready", meta, loadMs: now() - started });
}

async function encodeFrame(frame, time) {
  const enc = encoder; // a "stop" or a new "send" may come while this awaits
  if (!enc) return;
  const started = performance.now();
  const out = await encoderSession.run({ pcm: tensor(frame, [1, meta.hop]), state: enc.state });
  enc.state = out.state_out;
  record(timing.encodeMs, performance.now() - started);
  let energy = 0;
  for (let i = 0; i < frame.length; i++) energy += frame[i] * frame[i];
  const quiet = muted || energy / frame.length < 1e-5; // below -50 dBFS: the receiver may skip it
  const ts = enc.packetizer.nextTimestamp;
  marks.capture.push([ts, time * 1000 + clockOffset, Array.from(packBits(out.code.data, meta.bits))]);
  if (marks.capture.length > 3000) marks.capture.shift();
  const payload = packBits(out.code.data, enc.bits);
  sentPayloadBytes += payload.length;
  const speech = !muted && enc.vad.update(frame); // muted: a pause, keep-alives at digital silence
  const level = muted ? 127 : enc.vad.backgroundLevel;
  for (const plain of enc.packetizer.push(payload, quiet, speech, level)) {
    const packet = enc.sealer ? await enc.sealer.seal(plain) : plain;
    if (encoder !== enc) return; // that call has ended: its packets go nowhere
    sentBytes += packet.length;
    postMessage({ type: "packet", data: packet.buffer }, [packet.buffer]);
  }
}

function receive(data, arrival) {
  // Test hook: drop `k` packets of every `n` that arrive (a loss burst pattern).
  if (dropPattern && receivedCount++ % dropPattern.n < dropPattern.k) return;
  const bytes = new Uint8Array(data);
  if (opener) {
    opener.open(bytes).then((plain) => accept(plain, arrival), (err) => {
      if (!(err instanceof E2eeError)) throw err;
      e2eeDropped[err.reason] = (e2eeDropped[err.reason] || 0) + 1;
    });
  } else if (isSealed(bytes)) {
    e2eeDropped["sealed-no-key"] = (e2eeDropped["sealed-no-key"] || 0) + 1;
  } else {
    accept(bytes, arrival);
  }
}

function accept(bytes, arrival) {
  let packet;
  try {
    packet = parsePacket(bytes);
  } catch (err) {
    if (!(err instanceof PacketError)) throw err;
    malformed += 1; // one place where bad datagrams are counted and dropped
    return;
  }
  if (packet.sender === sender) return;
  const bits = payloadBits[packet.payloadType];
  if (bits === undefined || bits > meta.bits) {
    // Another codec (a Codec2 or Opus peer from the command line): this page cannot play it.
    unsupported[packet.sender] = packet.payloadType;
    return;
  }
  let r = receivers.get(packet.sender);
  if (!r || r.bits !== bits) {
    // A new sender, or one that switched mode: fresh decoder state and buffer.
    r = { jitter: new JitterBuffer(), state: null, primed: false, bits, log: [], // log: what was decoded
      concealer: new CodeConcealer(predictor, bits) };
    receivers.set(packet.sender, r);
    decodedLogs.set(packet.sender, r.log); // kept after the sender leaves, for tests
  }
  r.jitter.push(packet, arrival);
}

async function decodeOne(id, r, payload, ts) {
  const started = performance.now();
  if (!r.state) r.state = tensor(new Float32Array(meta.decoder_state_size), [1, meta.decoder_state_size]);
  const { pcm, state } = await decodeCode(payload, r.bits, r.concealer, r.state);
  r.state = state;
  r.log.push([ts, payload ? Array.from(payload) : null]);
  if (r.log.length > 3000) r.log.shift();
  record(timing.decodeMs, performance.now() - started);
  // The decoder's output lags its input by delay_samples (2 frames): tag with the frame it holds.
  const lag = Math.round(meta.delay_samples / meta.hop);
  playout.postMessage({ sender: id, pcm, ts: ts === null ? null : ts - lag }, [pcm.buffer]);
}

// A frame of the sender's pause (DTX): low-passed noise at the level its keep-alive reported
// (-dBov); the decoder is not run, so its state resumes where the speech before the pause left it.
function playComfort(id, r, level, ts) {
  const gain = level >= 100 ? 0 : 10 ** (-level / 20);
  const pcm = new Float32Array(meta.hop);
  let y = r.comfortState ?? 0;
  for (let i = 0; i < pcm.length; i++) {
    const white = (Math.random() + Math.random() + Math.random() - 1.5) * 2; // ~unit variance
    y = 0.5 * y + 0.866 * white;
    pcm[i] = gain * y;
  }
  r.comfortState = y;
  r.log.push([ts, null]); // as a concealed frame: no code was decoded
  if (r.log.length > 3000) r.log.shift();
  const lag = Math.round(meta.delay_samples / meta.hop);
  playout.postMessage({ sender: id, pcm, ts: ts === null ? null : ts - lag }, [pcm.buffer]);
}

// One payload (null: missing) through the concealer and the decoder: {pcm, state}.
async function decodeCode(payload, bits, concealer, state) {
  let code = null;
  if (payload !== null) {
    try {
      code = unpackBits(payload, bits, meta.bits);
    } catch {
      malformed += 1; // a payload of the wrong size: concealed like a lost one
    }
  }
  if (code === null) code = await concealer.conceal(meta.bits);
  else await concealer.observe(code);
  const out = await decoderSession.run({ code: tensor(code, [1, meta.bits]), state });
  const pcm = out.pcm.data;
  const gain = concealer.gain();
  if (gain !== 1) for (let i = 0; i < pcm.length; i++) pcm[i] *= gain;
  return { pcm, state: out.state_out };
}

// One tick per frame played: pop every sender's next frame and decode it. A new sender gets
// two frames on its first tick so the playout has a frame in hand while the next decodes.
async function tick() {
  const t = now();
  for (const [id, r] of receivers) {
    for (let k = r.primed ? 1 : 2; k > 0; k--) {
      const item = r.jitter.pop(t);
      if (!item) break;
      r.primed = true;
      if (item.source === "comfort") playComfort(id, r, item.level, item.ts);
      else await decodeOne(id, r, item.payload, item.ts);
    }
  }
}

// Encode and decode a whole clip (16 kHz) from fresh states, as the offline round trip does,
// with the frames whose index is in `lost` decoded as missing (concealed): lets a test compare
// this runtime with the Python one on identical input.
async function roundtrip(pcm, lost = []) {
  if (encoder || receivers.size) throw new Error("roundtrip() runs the codec sessions: only outside a call");
  let es = tensor(new Float32Array(meta.encoder_state_size), [1, meta.encoder_state_size]);
  let ds = tensor(new Float32Array(meta.decoder_state_size), [1, meta.decoder_state_size]);
  const concealer = new CodeConcealer(predictor, meta.bits);
  const missing = new Set(lost);
  const frames = Math.floor(pcm.length / meta.hop);
  const codes = new Uint8Array(frames * Math.ceil(meta.bits / 8));
  const decoded = new Float32Array(frames * meta.hop);
  for (let t = 0; t < frames; t++) {
    const enc = await encoderSession.run({ pcm: tensor(pcm.slice(t * meta.hop, (t + 1) * meta.hop), [1, meta.hop]),
      state: es });
    es = enc.state_out;
    const payload = packBits(enc.code.data, meta.bits);
    codes.set(payload, t * payload.length);
    const dec = await decodeCode(missing.has(t) ? null : payload, meta.bits, concealer, ds);
    ds = dec.state;
    decoded.set(dec.pcm, t * meta.hop);
  }
  postMessage({ type: "roundtrip", codes, decoded }, [codes.buffer, decoded.buffer]);
}

// A receiver's report about our stream, forwarded by the server: the redundancy, the frames per
// packet and the cap in force follow it (packetsize.js), from the next packet on.
function adapt(data) {
  let report;
  try {
    report = parseReport(new Uint8Array(data));
  } catch (err) {
    if (!(err instanceof PacketError)) throw err;
    malformed += 1;
    return;
  }
  if (encoder && report.sender === sender) {
    followReport(encoder.sizer, encoder.packetizer, report, listeners, encoder.bits / 8);
  }
}

// A new stream (a call, a rejoin): fresh codec state, packetizer and sizer. Sealed packets wrap
// version 1 (transport/README.md): no DTX and at most 4 frames a packet with a room key.
function startEncoder({ sender: id, payloadType, bits, framesPerPacket, redundancy, dtx, maxBitrate }) {
  const version = keyring || dtx === false ? 1 : 3;
  const packetizer = new Packetizer({ payloadType, sender: id, framesPerPacket, redundancy, version,
    dtx: version === 3 ? DTX_DEFAULTS : null });
  const frameMs = (1000 * meta.hop) / meta.sample_rate;
  const sizer = new PacketSizer(sizeConfig({ frameMs, base: framesPerPacket, maxBitrate: maxBitrate ?? null,
    most: Math.max(framesPerPacket, mostFrames(frameMs, version === 3 ? MAX_PRIMARY_V3 : MAX_PRIMARY)) }));
  // Under our own cap the first packets are already sized (as client/call.py plans them).
  [packetizer.framesPerPacket, packetizer.redundancy] = sizer.plan(bits / 8, packetizer.redundancy);
  return { state: tensor(new Float32Array(meta.encoder_state_size), [1, meta.encoder_state_size]), bits,
    vad: new Vad(), packetizer, sizer, sealer: keyring ? new Sealer(keyring) : null };
}

function record(list, value) {
  list.push(value);
  if (list.length > 500) list.shift();
}

function summary(list) {
  if (!list.length) return null;
  const sorted = [...list].sort((a, b) => a - b);
  return { mean: list.reduce((a, b) => a + b, 0) / list.length, p95: sorted[Math.floor(0.95 * (sorted.length - 1))],
    count: list.length };
}

// Send rates over the last 2 s: a worker starved of CPU encodes in bursts, and a half-second
// window would show the bursts rather than the rate.
const RATE_WINDOW = 4;
const sentHistory = [{ at: now(), sent: 0, payload: 0 }];
setInterval(() => {
  const t = now();
  sentHistory.push({ at: t, sent: sentBytes, payload: sentPayloadBytes });
  if (sentHistory.length > RATE_WINDOW + 1) sentHistory.shift();
  const first = sentHistory[0];
  const seconds = (t - first.at) / 1000;
  const stats = {
    type: "stats",
    sendKbps: (8 * (sentBytes - first.sent)) / seconds / 1000,
    payloadKbps: (8 * (sentPayloadBytes - first.payload)) / seconds / 1000,
    encodeMs: summary(timing.encodeMs), decodeMs: summary(timing.decodeMs), malformed, unsupported, droppedFrames,
    skippedTicks,
    e2ee: { enabled: keyring !== null, dropped: { ...e2eeDropped } },
    redundancy: encoder ? encoder.packetizer.redundancy : null,
    framesPerPacket: encoder ? encoder.packetizer.framesPerPacket : null,
    capBps: encoder ? encoder.sizer.capBps : null, // the cap in force: ours, a receiver's or the link's
    sendDtxShare: encoder ? encoder.packetizer.framesHeld / Math.max(1, encoder.packetizer.framesPushed) : 0,
    receivers: Object.fromEntries([...receivers].map(([id, r]) => [id, r.jitter.summary()])),
  };
  postMessage(stats);
}, 500);

// Receiver reports, one per sender heard, for the server's metrics (control channel).
setInterval(() => {
  for (const [id, r] of receivers) {
    const data = buildReport(r.jitter.report(id));
    postMessage({ type: "report", data: data.buffer }, [data.buffer]);
  }
}, 1000);

onmessage = ({ data: m }) => {
  switch (m.type) {
    case "init":
      serial(() => init(m));
      break;
    case "ports":
      m.capture.onmessage = ({ data }) => {
        pendingFrames.push(data);
        if (pendingFrames.length > MAX_PENDING_FRAMES) {
          pendingFrames.shift();
          droppedFrames += 1;
        }
        pump();
      };
      playout = m.playout;
      playout.onmessage = ({ data }) => {
        if (data.tick && meta) { // before the codec is loaded there is nothing to play
          // Beyond MAX_PENDING_TICKS the worker is overloaded, not just stalled: frames decoded
          // for older ticks would only be trimmed from the playout's backlog. Their frames stay
          // in the jitter buffers, whose steering skips them without the cost of decoding.
          if (pendingTicks < MAX_PENDING_TICKS) pendingTicks += 1;
          else skippedTicks += 1;
          pump();
        }
      };
      break;
    case "key":
      keyring = m.keyring;
      opener = keyring ? new Opener(keyring) : null;
      break;
    case "send":
      sender = m.sender;
      encoder = startEncoder(m);
      break;
    case "stop":
      encoder = null;
      for (const id of receivers.keys()) playout?.postMessage({ forget: id });
      receivers.clear();
      break;
    case "mute":
      muted = m.muted;
      break;
    case "listeners":
      listeners = Math.max(1, m.count);
      break;
    case "packet":
      receive(m.data, m.arrival);
      break;
    case "control":
      adapt(m.data);
      break;
    case "forget":
      receivers.delete(m.sender);
      playout?.postMessage({ forget: m.sender });
      break;
    case "clock":
      clockOffset = m.offset;
      break;
    case "roundtrip":
      serial(() => roundtrip(m.pcm, m.lost).catch((err) => postMessage({ type: "roundtrip", error: String(err.message) })));
      break;
    case "marks":
      postMessage({ type: "marks", capture: marks.capture.slice(), timing,
        decoded: Object.fromEntries([...decodedLogs].map(([id, log]) => [id, log.slice()])) });
      break;
    default:
      postMessage({ type: "error", message: `unknown message ${m.type}` });
  }
};
