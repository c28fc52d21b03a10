// The call page: join form, participants with level meters and connection state, statistics,
// microphone selection, and the messages for a denied microphone, a lost connection and an
// unsupported browser. `window.focalcall` exposes state and debug hooks used by the tests.

import { AudioEngine, MicrophoneError, missingFeatures } from "./audio.js";
import { Call } from "./call.js";
import { FOCAL_MODES } from "./focal-payload.js";
import { readInvite, roomAddress } from "./invite.js";

// Payload types of the packet header (the transport's table; one per codec mode).
const PAYLOAD_TYPES = { "focal-800": 1, "focal-400": 3 }; // codec/payload_types.py; focal-600 (2) is not played here
const CODEC = "focal-800";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const invite = readInvite(location.href); // room, token and end-to-end key of an invite link
const debug = { loadStart: performance.timeOrigin, codecReadyAt: null, joinClickAt: null, joinedAt: null,
  audioOpenAt: null, stats: null, errors: [] };
const ui = { engine: null, call: null, muted: false, peers: new Map(), levels: {}, stats: null };

function showMessage(text, kind = "error") {
  const box = $("message");
  if (text && box.textContent === text && !box.hidden) return;
  box.textContent = text;
  box.className = `message ${kind === "info" ? "info" : ""}`;
  box.hidden = !text;
  if (text && kind !== "info") debug.errors.push(text);
}

function setState(state, detail) {
  const el = $("state");
  el.textContent = detail ? `${state}: ${detail}` : state;
  el.className = `state ${state}`;
  if (state === "reconnecting") showMessage(`Connection lost — reconnecting automatically (${detail}).`, "info");
  else if (state === "connected") showMessage("");
  else if (state === "failed") showMessage(`Could not join: ${detail}`);
}

// The list on screen, and the listener count the sender's redundancy adapts over.
function participantsChanged() {
  renderParticipants();
  ui.engine.setListeners(ui.call.participants.size);
}

function renderParticipants() {
  const list = $("participants");
  list.replaceChildren();
  const rows = [[ui.call.id, `${ui.call.name} (you)`], ...[...ui.call.participants].sort((a, b) => a[0] - b[0])];
  for (const [id, name] of rows) {
    const li = document.createElement("li");
    li.dataset.id = id;
    const label = document.createElement("span");
    label.textContent = name;
    const meter = document.createElement("meter");
    meter.min = 0;
    meter.max = 1;
    meter.low = 0.6;
    meter.high = 0.85;
    meter.value = 0;
    const state = document.createElement("span");
    state.className = "peer-state";
    li.append(label, meter, state);
    list.append(li);
  }
  updatePeerStates();
}

function updatePeerStates() {
  for (const li of $("participants").children) {
    const id = Number(li.dataset.id);
    const meter = li.querySelector("meter");
    const state = li.querySelector(".peer-state");
    if (id === ui.call.id) {
      const silent = ui.muted || $("listen").checked;
      meter.value = silent ? 0 : Math.min(1, 3 * (ui.levels.self || 0));
      state.textContent = $("listen").checked ? `${ui.call.state}, listening` : ui.muted ? "muted" : ui.call.state;
      continue;
    }
    meter.value = Math.min(1, 3 * ((ui.levels.senders || {})[id] || 0));
    const r = ui.stats?.receivers?.[id];
    if (ui.stats?.unsupported?.[id] !== undefined) state.textContent = "uses a codec this page cannot play";
    else if (!r) state.textContent = "no audio yet";
    else state.textContent = ui.peers.get(id)?.receiving ? "receiving" : "no packets lately";
  }
}

function showStats(s) {
  ui.stats = s;
  const dropped = s.e2ee?.dropped || {};
  if (dropped["sealed-no-key"]) {
    showMessage("Others here encrypt their audio end to end: open the invite link that carries the room key.");
  } else if (dropped.undecryptable && !Object.keys(s.receivers).length) {
    showMessage("Others here encrypt their audio with a different room key: ask for a new invite link.");
  }
  for (const [id, r] of Object.entries(s.receivers)) {
    const last = ui.peers.get(Number(id))?.packets ?? 0;
    ui.peers.set(Number(id), { packets: r.packetsReceived, receiving: r.packetsReceived > last });
  }
  debug.stats = s;
  $("stat-bitrate").textContent = `${s.sendKbps.toFixed(2)} kbit/s on the wire `
    + `(codec ${s.payloadKbps.toFixed(2)} kbit/s${s.redundancy === null ? "" : `, ${s.redundancy} redundant frames`})`;
  const receivers = Object.values(s.receivers);
  if (receivers.length) {
    const played = receivers.reduce((n, r) => n + r.framesPlayed, 0);
    const concealed = receivers.reduce((n, r) => n + r.framesConcealed, 0);
    const lost = receivers.reduce((n, r) => n + r.packetsLost, 0);
    const expected = receivers.reduce((n, r) => n + r.packetsExpected, 0);
    $("stat-loss").textContent = `${(100 * (played ? concealed / played : 0)).toFixed(1)} % of frames concealed `
      + `(${(100 * (expected ? lost / expected : 0)).toFixed(1)} % of packets lost before recovery)`;
    const delay = Math.max(...receivers.map((r) => r.bufferDelayMs));
    const target = Math.max(...receivers.map((r) => r.targetDelayMs));
    const jitter = Math.max(...receivers.map((r) => r.jitterMs));
    $("stat-delay").textContent = `${delay.toFixed(0)} ms (target ${target.toFixed(0)} ms, jitter ${jitter.toFixed(1)} ms)`;
  } else {
    $("stat-loss").textContent = "– (nobody is talking yet)";
    $("stat-delay").textContent = "–";
  }
  const e = s.encodeMs;
  const d = s.decodeMs;
  $("stat-codec").textContent = `encode ${e ? e.mean.toFixed(1) : "–"} ms, decode ${d ? d.mean.toFixed(1) : "–"} ms`;
  updatePeerStates();
}

async function listMicrophones(current) {
  const select = $("mic");
  const devices = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "audioinput");
  select.replaceChildren(...devices.map((d, i) => {
    const option = document.createElement("option");
    option.value = d.deviceId;
    option.textContent = d.label || `Microphone ${i + 1}`;
    option.selected = d.deviceId === current;
    return option;
  }));
}

async function join(event) {
  event?.preventDefault();
  const name = $("name").value.trim();
  const room = $("room").value.trim();
  if (!name || !room || !$("join-form").reportValidity()) return;
  debug.joinClickAt = performance.timeOrigin + performance.now();
  showMessage("");
  $("join").disabled = true;
  const listenOnly = $("listen").checked;
  let deviceId;
  try {
    if (!listenOnly) deviceId = await ui.engine.useMicrophone(localStorage.getItem("focalcall.mic") || undefined);
  } catch (err) {
    if (err instanceof MicrophoneError && err.kind === "missing" && localStorage.getItem("focalcall.mic")) {
      localStorage.removeItem("focalcall.mic"); // the remembered device is gone: try the default
      $("join").disabled = false;
      return join();
    }
    showMessage(err.message);
    $("join").disabled = false;
    return;
  }
  localStorage.setItem("focalcall.name", name);
  const call = new Call({ room, name, token: invite.room === room ? invite.token : null });
  ui.call = call;
  call.on("state", (state, detail) => setState(state, detail));
  call.on("joined", () => {
    debug.joinedAt = performance.timeOrigin + performance.now();
    $("join-panel").hidden = true;
    $("call-panel").hidden = false;
    $("room-name").textContent = invite.key ? `${room} · end-to-end encrypted` : room;
    history.replaceState(null, "", roomAddress(location.href, room));
    ui.engine.stopCall(); // a rejoin after a lost connection starts fresh streams
    participantsChanged();
  });
  call.on("peer-joined", participantsChanged);
  call.on("peer-left", (msg) => {
    ui.engine.forget(msg.id);
    participantsChanged();
  });
  call.on("audio-open", (id) => {
    debug.audioOpenAt = performance.timeOrigin + performance.now();
    if (!listenOnly) ui.engine.startSending({ id, payloadType: PAYLOAD_TYPES[CODEC], bits: FOCAL_MODES[CODEC] });
  });
  call.on("packet", (data, arrival) => ui.engine.receive(data, arrival));
  call.on("control", (data) => ui.engine.control(data));
  $("mute").hidden = listenOnly;
  $("mic").parentElement.hidden = listenOnly;
  if (!listenOnly) await listMicrophones(deviceId);
  await call.join();
}

function leave() {
  ui.call?.leave();
  ui.engine.stopCall();
  ui.engine.releaseMicrophone();
  $("call-panel").hidden = true;
  $("join-panel").hidden = false;
  $("join").disabled = false;
}

async function main() {
  for (const el of document.querySelectorAll(".origin")) el.textContent = `${location.origin}/`;
  $("name").value = params.get("name") || localStorage.getItem("focalcall.name") || "";
  $("room").value = params.get("room") || "";
  $("listen").checked = params.get("listen") === "1";
  const missing = missingFeatures();
  if (missing.length) {
    $("loading").textContent = "";
    showMessage(`This browser cannot run focalcall: it lacks ${missing.join(", ")}. `
      + "Use a current Chromium, Chrome, Edge or Firefox.");
    return;
  }
  ui.engine = new AudioEngine({
    modelUrl: params.get("model") || undefined,
    payloadTypes: Object.fromEntries(Object.entries(PAYLOAD_TYPES).map(([mode, pt]) => [pt, FOCAL_MODES[mode]])),
    processing: params.get("processing") !== "off",
    drop: dropPattern(params.get("drop")),
    e2eeKey: invite.key,
    onPacket: (data) => ui.call?.send(data),
    onReport: (data) => ui.call?.sendControl(data),
    onStats: showStats,
    onLevels: (levels) => {
      ui.levels = levels;
      debug.playoutQueue = levels.underruns; // per sender: [times run dry, backlogs trimmed]
      if (ui.call) updatePeerStates();
    },
    onError: (message) => showMessage(`Audio error: ${message}`),
  });
  try {
    await ui.engine.start();
  } catch (err) {
    $("loading").textContent = "";
    showMessage(`Could not load the codec: ${err.message}`);
    return;
  }
  debug.codecReadyAt = performance.timeOrigin + performance.now();
  $("loading").textContent = "";
  $("join").disabled = false;
  $("join-form").addEventListener("submit", join);
  $("leave").addEventListener("click", leave);
  $("mute").addEventListener("click", () => {
    ui.muted = !ui.muted;
    ui.engine.setMuted(ui.muted);
    $("mute").setAttribute("aria-pressed", String(ui.muted));
    $("mute").textContent = ui.muted ? "Unmute" : "Mute";
    updatePeerStates();
  });
  $("mic").addEventListener("change", async () => {
    try {
      const id = await ui.engine.useMicrophone($("mic").value);
      localStorage.setItem("focalcall.mic", id);
    } catch (err) {
      showMessage(err.message);
    }
  });
  navigator.mediaDevices.addEventListener?.("devicechange", () => ui.call && listMicrophones($("mic").value));
  if (params.get("autojoin") === "1") join();
}

// `?drop=K/N` (testing): the page discards K of every N incoming packets, a loss burst pattern.
function dropPattern(text) {
  const m = /^(\d+)\/(\d+)$/.exec(text || "");
  return m && Number(m[2]) > 0 ? { k: Number(m[1]), n: Number(m[2]) } : null;
}

function toBase64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

// Test and benchmark hooks (read-only state plus the playout tap).
window.focalcall = {
  debug,
  get state() {
    return ui.call ? ui.call.state : "idle";
  },
  get id() {
    return ui.call ? ui.call.id : null;
  },
  get meta() {
    return ui.engine ? ui.engine.meta : null;
  },
  get sampleRate() {
    return ui.engine?.context?.sampleRate ?? null;
  },
  get latency() {
    const c = ui.engine?.context;
    return c ? { base: c.baseLatency ?? null, output: c.outputLatency ?? null } : null;
  },
  startRecording: () => ui.engine.startRecording(),
  // The playout tap as base64 little-endian float32 (compact to pass to a test).
  // The taps as base64 float32: played (context rate) and captured (16 kHz), with start times.
  stopRecording: async () => {
    const r = await ui.engine.stopRecording();
    return { played: toBase64(new Uint8Array(r.played.buffer)), playedStart: r.playedStart,
      captured: toBase64(new Uint8Array(r.captured.buffer)), capturedStart: r.capturedStart };
  },
  // Codec parity check: base64 float32 16 kHz in (frames in `lost` decoded as missing),
  // {codes, decoded} as base64 out.
  roundtrip: async (pcmBase64, lost = []) => {
    const pcm = new Float32Array(Uint8Array.from(atob(pcmBase64), (c) => c.charCodeAt(0)).buffer);
    const { codes, decoded } = await ui.engine.roundtrip(pcm, lost);
    return { codes: toBase64(codes), decoded: toBase64(new Uint8Array(decoded.buffer)) };
  },
  marks: async () => {
    const { capture, timing, decoded, poplog, arrlog } = await ui.engine.captureMarks();
    return { capture, decoded, play: ui.engine.playMarks.slice(), timing, poplog, arrlog };
  },
};

main();
