// The call page: wires the audio engine, the call and the UI modules together and keeps the
// page's state (loading → idle → needs-audio → connecting → connected ⇄ reconnecting → left
// or failed). `window.focalcall` exposes state and debug hooks used by the tests and benches.

import { ensureAudioRunning } from "./audio-unlock.js";
import { AudioEngine, MicrophoneError, missingFeatures } from "./audio.js";
import { Call } from "./call.js";
import { ConnectionPanel } from "./connection-panel.js";
import { DevicePicker, forgetMicrophone, rememberedMicrophone } from "./devices.js";
import { FOCAL_MODES } from "./focal-payload.js";
import { inviteLink, readInvite, withSecretsInFragment } from "./invite.js";
import { STATE_WORDS, e2eeMessage, failureMessage, reconnectingMessage } from "./messages.js";
import { PacketError, parseReport } from "./packet.js";
import { StreamQuality, gradeFigures, reportFigures, worst } from "./quality.js";
import { installShortcuts } from "./shortcuts.js";
import { Tiles } from "./tiles.js";
import { WireStats } from "./wire-stats.js";

// Payload types of the packet header (the transport's table; one per codec mode).
const PAYLOAD_TYPES = { "focal-800": 1, "focal-400": 3 }; // codec/payload_types.py; focal-600 (2) is not played here
const CODEC = "focal-800";
const UPLINK_WINDOW_MS = 5000; // receiver reports about us older than this no longer grade our link
const UPLINK_SETTLE_MS = 2500; // reports in the first moments of sending are about start-up

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const invite = readInvite(location.href); // room, name, token and end-to-end key of an invite link
const debug = { loadStart: performance.timeOrigin, codecReadyAt: null, joinClickAt: null, joinedAt: null,
  audioOpenAt: null, stats: null, wire: null, errors: [], playoutQueue: null };
const ui = { phase: "loading", engine: null, call: null, muted: false, listenOnly: false, room: null, name: null,
  tiles: new Tiles($("tiles")), quality: new Map(), packets: new Map(), uplink: [], levels: null, wire: new WireStats(),
  panel: null, devices: null, audioOpenAt: 0, e2eeDropped: {} };

// ---- page state and messages -------------------------------------------------------------

function showMessage(text, kind = "error", { retry = false } = {}) {
  const box = $("message");
  if (text && !box.hidden && $("message-text").textContent === text && box.className === `message ${kind}`) return;
  $("message-text").textContent = text;
  box.className = `message ${kind}`;
  box.hidden = !text;
  $("retry").hidden = !retry;
  if (text && kind === "error") debug.errors.push(text);
}

function announce(text) {
  $("announce").textContent = text;
}

function setPhase(phase, detail = "") {
  ui.phase = phase;
  const badge = $("state");
  badge.textContent = STATE_WORDS[phase] || phase;
  badge.className = `state ${phase}`;
  badge.title = detail;
  const inCall = ["connecting", "connected", "reconnecting"].includes(phase) && ui.call?.id !== null
    && ui.call?.id !== undefined;
  $("join-panel").hidden = inCall || ["needs-audio", "left"].includes(phase);
  $("call-panel").hidden = !inCall;
  $("audio-prompt").hidden = phase !== "needs-audio";
  $("left-panel").hidden = phase !== "left";
  document.body.dataset.phase = phase;
}

function onCallState(state, detail) {
  if (state === "idle") return; // leave() handles the page
  setPhase(state, detail);
  if (state === "reconnecting") {
    showMessage(reconnectingMessage(detail, ui.call.everConnected), "info", { retry: true });
  } else if (state === "connected") {
    showMessage("");
  } else if (state === "failed") {
    const code = ui.call?.failure?.code;
    showMessage(failureMessage(code, detail, { room: ui.room, server: location.host }), "error");
    $("join").disabled = false;
    $("join").textContent = "Try again";
    ui.engine.stopCall();
    ui.engine.releaseMicrophone();
  }
}

// ---- participants ---------------------------------------------------------------------------

function people() {
  return [{ id: ui.call.id, name: ui.call.name, self: true },
    ...[...ui.call.participants].map(([id, name]) => ({ id, name, self: false }))];
}

function participantsChanged() {
  ui.tiles.sync(people());
  ui.engine.setListeners(ui.call.participants.size);
  for (const id of ui.quality.keys()) if (!ui.call.participants.has(id)) ui.quality.delete(id);
}

function selfWords() {
  if (ui.listenOnly) return "listening only";
  if (ui.muted) return "muted";
  return ui.tiles.speaking(ui.call.id) ? "speaking" : "microphone on";
}

function peerWords(id) {
  if (debug.stats?.unsupported?.[id] !== undefined) return "uses a codec this page cannot play";
  if (!debug.stats?.receivers?.[id]) return "no audio yet";
  if (ui.tiles.speaking(id)) return "speaking";
  return ui.packets.get(id)?.receiving ? "receiving" : "no packets lately";
}

function showLevels({ self, senders }) {
  if (!ui.call || ui.call.id === null) return;
  const now = performance.now();
  ui.tiles.setLevel(ui.call.id, self, now, ui.muted || ui.listenOnly);
  for (const id of ui.call.participants.keys()) ui.tiles.setLevel(id, senders?.[id] ?? 0, now);
  // "Are you talking? You are muted": the microphone hears speech while muted.
  $("muted-hint").hidden = !(ui.muted && !ui.listenOnly && !$("ptt").checked && self >= 0.05);
  ui.tiles.setState(ui.call.id, selfWords());
  for (const id of ui.call.participants.keys()) ui.tiles.setState(id, peerWords(id));
}

function showStats(stats) {
  debug.stats = stats;
  if (!ui.call || ui.call.id === null) return;
  const e2ee = e2eeMessage(stats.e2ee.dropped, ui.e2eeDropped, Object.keys(stats.receivers).length > 0);
  if (e2ee) showMessage(e2ee);
  ui.e2eeDropped = stats.e2ee.dropped;
  const now = performance.now();
  for (const [key, summary] of Object.entries(stats.receivers)) {
    const id = Number(key);
    const last = ui.packets.get(id)?.packets ?? 0;
    ui.packets.set(id, { packets: summary.packetsReceived, receiving: summary.packetsReceived > last });
    if (!ui.quality.has(id)) ui.quality.set(id, new StreamQuality());
    ui.quality.get(id).push(summary, now);
    ui.tiles.setQuality(id, ui.quality.get(id).grade());
  }
  ui.uplink = ui.uplink.filter(([at]) => now - at < UPLINK_WINDOW_MS);
  const grades = ui.uplink.map(([, report]) => gradeFigures(reportFigures(report)));
  const worstGrade = worst(...grades.map((g) => g.grade));
  const uplink = grades.find((g) => g.grade === worstGrade) || gradeFigures(null);
  ui.tiles.setQuality(ui.call.id, uplink, "connection as the others hear you");
}

function onControl(data) {
  try {
    const report = parseReport(new Uint8Array(data));
    // A listener's first report covers its start-up (buffer priming), not our link.
    if (performance.now() - ui.audioOpenAt > UPLINK_SETTLE_MS) ui.uplink.push([performance.now(), report]);
  } catch (err) {
    if (!(err instanceof PacketError)) throw err; // malformed: the worker counts it
  }
  ui.engine.control(data);
}

async function sampleWire() {
  const pc = ui.call?.pc;
  if (!pc || ui.call.state !== "connected") return;
  try {
    debug.wire = await ui.wire.sample(pc);
    ui.panel.sample(debug.wire, debug.stats);
  } catch {
    // the connection closed under us; the next sample is after the rejoin
  }
}

// ---- joining and leaving --------------------------------------------------------------------

async function openMicrophone() {
  try {
    return await ui.engine.useMicrophone(rememberedMicrophone());
  } catch (err) {
    if (err instanceof MicrophoneError && err.kind === "missing" && rememberedMicrophone()) {
      forgetMicrophone(); // the remembered device is gone: the default one
      return ui.engine.useMicrophone();
    }
    throw err;
  }
}

async function join(event) {
  event?.preventDefault();
  const name = $("name").value.trim();
  const room = invite.room || $("room").value.trim();
  if (!$("join-form").reportValidity() || !name || !room) return;
  debug.joinClickAt = performance.timeOrigin + performance.now();
  showMessage("");
  $("join").disabled = true;
  try {
    await ui.engine.setRoomKey(invite.key); // the invite's, or none ("Join another call" dropped it)
  } catch (err) {
    showMessage(`The invite's room key is not usable: ${err.message}. Ask for a new invite link.`);
    $("join").disabled = false;
    return;
  }
  Object.assign(ui, { name, room, listenOnly: $("listen").checked });
  let micId;
  try {
    if (!ui.listenOnly) micId = await openMicrophone();
  } catch (err) {
    showMessage(err.message);
    $("join").disabled = false;
    return;
  }
  await ensureAudioRunning(ui.engine.context, { button: $("enable-audio"),
    showPrompt: () => {
      setPhase("needs-audio");
      $("enable-audio").focus();
    },
    hidePrompt: () => setPhase("idle") });
  localStorage.setItem("focalcall.name", name);
  await startCall(micId);
}

async function startCall(micId) {
  const retries = Number(params.get("retries")); // ?retries=N: give up after N failed attempts
  const call = new Call({ room: ui.room, name: ui.name, token: invite.token,
    ...(retries > 0 ? { maxAttempts: retries } : {}) });
  ui.call = call;
  ui.panel.reset();
  ui.wire.reset();
  ui.quality.clear();
  ui.packets.clear();
  ui.uplink = [];
  call.on("state", onCallState);
  call.on("joined", () => {
    debug.joinedAt = performance.timeOrigin + performance.now();
    $("room-name").textContent = invite.key ? `${ui.room} · end-to-end encrypted` : ui.room;
    history.replaceState(null, "", inviteLink(location.href, { room: ui.room, token: invite.token, key: invite.key }));
    ui.engine.stopCall(); // a rejoin after a lost connection starts fresh streams
    ui.tiles.sync([]);
    participantsChanged();
    setPhase(call.state);
  });
  call.on("peer-joined", (msg) => {
    participantsChanged();
    announce(`${msg.name} joined`);
  });
  call.on("peer-left", (msg) => {
    ui.engine.forget(msg.id);
    const name = ui.tiles.tiles.get(msg.id)?.label;
    participantsChanged();
    if (name) announce(`${name} left`);
  });
  call.on("audio-open", (id) => {
    debug.audioOpenAt = performance.timeOrigin + performance.now();
    ui.audioOpenAt = performance.now();
    ui.panel.reset();
    ui.wire.reset();
    if (!ui.listenOnly) {
      ui.engine.startSending({ id, payloadType: PAYLOAD_TYPES[CODEC], bits: FOCAL_MODES[CODEC],
        maxBitrate: bitrateParam(params.get("maxBitrate")) });
    }
  });
  call.on("packet", (data, arrival) => ui.engine.receive(data, arrival));
  call.on("control", onControl);
  $("mute").hidden = ui.listenOnly;
  $("mic-field").hidden = ui.listenOnly;
  setMuted($("ptt").checked && !ui.listenOnly);
  await ui.devices.refresh(micId);
  await ui.devices.restoreSpeaker();
  await call.join();
}

function leave() {
  if (!ui.call) return;
  ui.call.leave();
  ui.engine.stopCall();
  ui.engine.releaseMicrophone();
  $("left-room").textContent = ui.room;
  $("join").disabled = false;
  $("join").textContent = "Join";
  setPhase("left");
  announce("You left the call");
  $("rejoin").focus();
}

function setMuted(muted) {
  ui.muted = muted;
  ui.engine.setMuted(muted);
  $("mute").setAttribute("aria-pressed", String(muted));
  $("mute").firstChild.textContent = muted ? "Unmute " : "Mute ";
  if (!muted) $("muted-hint").hidden = true;
  if (ui.levels) showLevels({ ...ui.levels, self: 0 }); // the tile follows at once, not at the next report
}

async function copyInvite() {
  const link = inviteLink(location.href, { room: ui.room, token: invite.token, key: invite.key });
  const box = $("invite-box");
  $("invite-url").value = link;
  try {
    await navigator.clipboard.writeText(link);
    $("invite").textContent = "Invite link copied";
    announce("Invite link copied to the clipboard");
    setTimeout(() => ($("invite").textContent = "Copy invite link"), 3000);
    box.hidden = false;
  } catch {
    // No clipboard access (permissions, an insecure origin): show the link selected for Ctrl+C.
    box.hidden = false;
    $("invite-url").focus();
    $("invite-url").select();
    announce("Invite link selected: press Control C to copy it");
  }
}

// ---- start-up -------------------------------------------------------------------------------

function fillForm() {
  for (const el of document.querySelectorAll(".origin")) el.textContent = `${location.origin}/`;
  const moved = withSecretsInFragment(location.href);
  if (moved) history.replaceState(null, "", moved); // secrets leave the query (and any Referer)
  $("name").value = invite.name || localStorage.getItem("focalcall.name") || "";
  $("listen").checked = params.get("listen") === "1";
  if (invite.room) {
    // An invite link: the room is set, only the name is asked.
    $("room").value = invite.room;
    $("room-field").hidden = true;
    $("room").required = false;
    $("invited-room").textContent = invite.room;
    $("invited").hidden = false;
    $("join-title").textContent = `Join room ${invite.room}`;
  }
}

function wireControls() {
  $("join-form").addEventListener("submit", join);
  $("leave").addEventListener("click", leave);
  $("mute").addEventListener("click", () => setMuted(!ui.muted));
  $("invite").addEventListener("click", copyInvite);
  $("retry").addEventListener("click", () => ui.call?.retryNow());
  $("rejoin").addEventListener("click", () => {
    setPhase("idle");
    join();
  });
  $("home").addEventListener("click", () => {
    $("room-field").hidden = false;
    $("room").required = true;
    $("invited").hidden = true;
    $("join-title").textContent = "Join a call";
    Object.assign(invite, { room: null, token: null, key: null }); // they were for that room
    history.replaceState(null, "", location.pathname);
    setPhase("idle");
    $("room").focus();
  });
  $("ptt").addEventListener("change", () => {
    setMuted($("ptt").checked);
    announce($("ptt").checked ? "Push to talk on: hold Space to talk" : "Push to talk off");
  });
  installShortcuts({
    active: () => ui.call?.state === "connected" && !ui.listenOnly,
    toggleMute: () => {
      setMuted(!ui.muted);
      announce(ui.muted ? "Microphone muted" : "Microphone on");
    },
    talk: (on) => setMuted(!on),
    pushToTalk: () => $("ptt").checked,
  });
  // Audio keeps playing in a background tab; if the browser suspended it anyway (a phone
  // locking, an audio-focus loss), pick it up again when the page is seen.
  const wake = () => {
    if (ui.call && ui.engine.context.state !== "running" && !document.hidden) {
      ui.engine.context.resume().catch(() => {});
    }
  };
  document.addEventListener("visibilitychange", wake);
  ui.engine.context.addEventListener("statechange", wake);
}

async function main() {
  fillForm();
  const missing = missingFeatures();
  if (missing.length) {
    $("loading").textContent = "";
    setPhase("failed");
    showMessage(`This browser cannot run focalcall: it lacks ${missing.join(", ")}. `
      + "Use a current Chromium, Chrome, Edge or Firefox.");
    return;
  }
  ui.engine = new AudioEngine({
    modelUrl: params.get("model") || undefined,
    payloadTypes: Object.fromEntries(Object.entries(PAYLOAD_TYPES).map(([mode, pt]) => [pt, FOCAL_MODES[mode]])),
    processing: params.get("processing") !== "off",
    drop: dropPattern(params.get("drop")),
    onPacket: (data) => ui.call?.send(data),
    onReport: (data) => ui.call?.sendControl(data),
    onStats: showStats,
    onLevels: (levels) => {
      ui.levels = levels;
      debug.playoutQueue = levels.underruns; // per sender: [runs dry, trims, quiet drops, samples queued]
      showLevels(levels);
    },
    onError: (message) => showMessage(`Audio error: ${message}`),
  });
  try {
    await ui.engine.start();
  } catch (err) {
    $("loading").textContent = "";
    setPhase("failed");
    showMessage(`Could not load the codec: ${err.message}`);
    return;
  }
  debug.codecReadyAt = performance.timeOrigin + performance.now();
  ui.panel = new ConnectionPanel();
  ui.devices = new DevicePicker({ engine: ui.engine, micSelect: $("mic"), speakerSelect: $("speaker"),
    onError: (message) => showMessage(message) });
  setInterval(sampleWire, 1000);
  $("loading").textContent = "";
  $("join").disabled = false;
  wireControls();
  setPhase("idle");
  if (invite.room && !$("name").value) $("name").focus();
  if (params.get("autojoin") === "1") join();
}

// `?drop=K/N` (testing): the page discards K of every N incoming packets, a loss burst pattern.
function dropPattern(text) {
  const m = /^(\d+)\/(\d+)$/.exec(text || "");
  return m && Number(m[2]) > 0 ? { k: Number(m[1]), n: Number(m[2]) } : null;
}

// `?maxBitrate=BPS`: keep what the page sends under BPS bit/s on the wire (at least 1000, as
// `focalcall join --max-bitrate`); anything else: no cap of its own.
function bitrateParam(text) {
  const bps = Number(text);
  return text && Number.isFinite(bps) && bps >= 1000 ? bps : null;
}

function toBase64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

// Test and benchmark hooks (read-only state plus the playout tap).
window.focalcall = {
  debug,
  /** The call's state while in one (connecting, connected, reconnecting, failed), else the
   *  page's (loading, idle, needs-audio, left). */
  get state() {
    return ui.call && !["left", "needs-audio", "idle"].includes(ui.phase) ? ui.call.state : ui.phase;
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
  /** The output device the call plays on ("" for the system default), where choosable. */
  get sinkId() {
    return ui.engine?.context?.sinkId ?? null;
  },
  get latency() {
    const c = ui.engine?.context;
    return c ? { base: c.baseLatency ?? null, output: c.outputLatency ?? null } : null;
  },
  startRecording: () => ui.engine.startRecording(),
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
