// The page's audio engine: microphone -> capture worklet -> codec worker -> packets out, and
// packets in -> codec worker -> playout worklet -> speakers. Owns the AudioContext, the two
// worklet nodes, the worker and the MessageChannels between them.

import { parseKeyring } from "./e2ee.js";

const here = (path) => new URL(path, import.meta.url).href;

export class MicrophoneError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = "MicrophoneError";
    this.kind = kind; // "denied" | "missing" | "busy" | "other"
  }
}

/** What the page needs from the browser; returns the names of missing features. */
export function missingFeatures() {
  const need = {
    "WebRTC (RTCPeerConnection)": typeof RTCPeerConnection === "function",
    "AudioWorklet": typeof AudioWorkletNode === "function",
    "WebAssembly": typeof WebAssembly === "object",
    "module Workers": typeof Worker === "function" && supportsModuleWorkers(),
    "microphone access (mediaDevices.getUserMedia)": Boolean(navigator.mediaDevices && navigator.mediaDevices.getUserMedia),
    "a secure context (https or localhost)": window.isSecureContext !== false,
  };
  return Object.entries(need).filter(([, ok]) => !ok).map(([name]) => name);
}

/** `processing`: the browser's echo cancellation, noise suppression and gain control (on for
 *  calls; off to measure the codec itself, e.g. from a test file). */
// A browser that reads the `type` option knows module workers (Firefox >= 114, Chromium >= 80).
function supportsModuleWorkers() {
  let supported = false;
  try {
    new Worker("data:,", { get type() { supported = true; return "module"; } }).terminate();
  } catch {
    // the data: URL may be refused; the option was read by then
  }
  return supported;
}

export async function openMicrophone(deviceId, processing = true) {
  const audio = { channelCount: 1, echoCancellation: processing, noiseSuppression: processing,
    autoGainControl: processing };
  if (deviceId) audio.deviceId = { exact: deviceId };
  try {
    return await navigator.mediaDevices.getUserMedia({ audio });
  } catch (err) {
    if (err.name === "NotAllowedError" || err.name === "SecurityError") {
      throw new MicrophoneError("denied", "Microphone access was denied. Allow it for this site (the icon in the "
        + "address bar) and press Join again.");
    }
    if (err.name === "NotFoundError" || err.name === "OverconstrainedError") {
      throw new MicrophoneError("missing", "No microphone was found. Connect one and press Join again.");
    }
    if (err.name === "NotReadableError") {
      throw new MicrophoneError("busy", "The microphone is in use by another application or could not be started.");
    }
    throw new MicrophoneError("other", `Could not open the microphone: ${err.message || err.name}`);
  }
}

export class AudioEngine {
  /** Events via callbacks: onPacket(ArrayBuffer), onReport(ArrayBuffer), onStats(stats), onLevels({self, senders}),
   *  onError(message). */
  constructor({ modelUrl = here("../models/focal.json"), payloadTypes, processing = true, drop = null, onPacket,
    onReport, onStats, onLevels, onError, onMarks }) {
    Object.assign(this, { modelUrl, payloadTypes, processing, drop, onPacket, onReport, onStats, onLevels, onError,
      onMarks });
    this.context = null;
    this.worker = null;
    this.listeners = 1;
    this.source = null;
    this.stream = null;
    this.meta = null;
    this.recording = [];
    this.playMarks = [];
    this.selfLevel = 0;
  }

  /** Load the worklets, the worker and the codec; resolves when the codec is ready. */
  async start() {
    this.context = new AudioContext({ latencyHint: "interactive" });
    await this.context.audioWorklet.addModule(here("./audio-worklet.js"));
    this.capture = new AudioWorkletNode(this.context, "focal-capture", { numberOfInputs: 1, numberOfOutputs: 0 });
    this.playout = new AudioWorkletNode(this.context, "focal-playout",
      { numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [1] });
    this.playout.connect(this.context.destination);
    this.worker = new Worker(here("./codec-worker.js"), { type: "module" });
    const toCapture = new MessageChannel();
    const toPlayout = new MessageChannel();
    this.capture.port.postMessage({ codecPort: toCapture.port1 }, [toCapture.port1]);
    this.playout.port.postMessage({ codecPort: toPlayout.port1 }, [toPlayout.port1]);
    this.worker.postMessage({ type: "ports", capture: toCapture.port2, playout: toPlayout.port2 },
      [toCapture.port2, toPlayout.port2]);
    this.worker.postMessage({ type: "listeners", count: this.listeners });
    this.capture.port.onmessage = ({ data }) => {
      if (data.captured) this.captured = { samples: data.captured, start: data.start * 1000 + this.clockOffset };
      else this.selfLevel = data.level;
    };
    this.playout.port.onmessage = ({ data }) => this.fromPlayout(data);
    this.syncClock();
    this.clockTimer = setInterval(() => this.syncClock(), 5000);
    const ready = new Promise((resolve, reject) => {
      this.worker.onmessage = ({ data }) => {
        if (data.type === "ready") resolve(data);
        else if (data.type === "error") reject(new Error(data.message));
      };
      this.worker.onerror = (event) => reject(new Error(event.message || "the codec worker failed to start"));
    });
    this.worker.postMessage({ type: "init", modelUrl: new URL(this.modelUrl, location.href).href,
      ortUrl: here("../vendor/onnxruntime-web/ort.wasm.bundle.min.mjs"), payloadTypes: this.payloadTypes,
      drop: this.drop });
    const { meta, loadMs } = await ready;
    this.meta = meta;
    this.loadMs = loadMs;
    this.worker.onmessage = ({ data }) => this.fromWorker(data);
    this.worker.onerror = (event) => this.onError?.(event.message || "the codec worker stopped");
    return meta;
  }

  // Maps the context's render clock onto the wall clock, so marks from different pages compare
  // (device latencies are not included: the context reports them as baseLatency/outputLatency).
  syncClock() {
    const offset = performance.timeOrigin + performance.now() - this.context.currentTime * 1000;
    this.clockOffset = offset;
    this.worker?.postMessage({ type: "clock", offset });
  }

  fromWorker(data) {
    if (data.type === "packet") this.onPacket?.(data.data);
    else if (data.type === "report") this.onReport?.(data.data);
    else if (data.type === "stats") this.onStats?.(data);
    else if (data.type === "marks") this.onMarks?.(data);
    else if (data.type === "roundtrip") this.onRoundtrip?.(data);
    else if (data.type === "error") this.onError?.(data.message);
  }

  fromPlayout(data) {
    if (data.recorded) {
      this.recording.push(data.recorded);
      return;
    }
    if (data.recordStart !== undefined) {
      this.recordStart = data.recordStart * 1000 + this.clockOffset;
      return;
    }
    if (data.marks) {
      for (const [ts, time] of data.marks) this.playMarks.push([ts, time * 1000 + this.clockOffset]);
      if (this.playMarks.length > 3000) this.playMarks.splice(0, this.playMarks.length - 3000);
    }
    if (data.levels) this.onLevels?.({ self: this.selfLevel, senders: data.levels, underruns: data.underruns });
  }

  async useMicrophone(deviceId) {
    const stream = await openMicrophone(deviceId, this.processing);
    if (this.source) this.source.disconnect();
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
    this.stream = stream;
    this.source = this.context.createMediaStreamSource(stream);
    this.source.connect(this.capture);
    // The context starts at the page's first user gesture (audio-unlock.js asks for one): a
    // resume() awaited here would hang a join that had none (?autojoin=1).
    return stream.getAudioTracks()[0]?.getSettings().deviceId;
  }

  /** Close the microphone (on leave: the browser's recording indicator goes off). */
  releaseMicrophone() {
    if (this.source) this.source.disconnect();
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
    this.source = null;
    this.stream = null;
  }

  /** The room key(s) of the next call ("EPOCH:KEY,…", from the invite), or null for a call that is
   *  not end-to-end encrypted; throws a RangeError for text that is not a room key. */
  async setRoomKey(text) {
    const keyring = text ? await parseKeyring(text) : null; // CryptoKeys travel to the worker as they are
    this.worker.postMessage({ type: "key", keyring });
  }

  /** Start sending as participant `id` (a new packetizer: sequence and timestamps from 0).
   *  `framesPerPacket`: the size on a calm link; more go in a packet under `maxBitrate` (bit/s on
   *  the wire, every header and the SACKs back counted; null: no cap of ours), a receiver's cap
   *  or an overloaded link (packetsize.js). */
  startSending({ id, payloadType, bits, framesPerPacket = 2, redundancy = 8, dtx = true, maxBitrate = null }) {
    this.worker.postMessage({ type: "send", sender: id, payloadType, bits, framesPerPacket, redundancy, dtx,
      maxBitrate });
  }

  stopCall() {
    this.worker?.postMessage({ type: "stop" });
  }

  receive(data, arrival) {
    this.worker.postMessage({ type: "packet", data, arrival }, [data]);
  }

  /** A control-channel message: a receiver report about our stream (adapts redundancy). */
  control(data) {
    this.worker.postMessage({ type: "control", data }, [data]);
  }

  forget(id) {
    this.worker.postMessage({ type: "forget", sender: id });
  }

  /** How many others hear this page: its redundancy covers the worst of their reports. */
  setListeners(count) {
    this.listeners = count;
    this.worker?.postMessage({ type: "listeners", count });
  }

  setMuted(muted) {
    this.capture.port.postMessage({ muted });
    this.worker.postMessage({ type: "mute", muted });
  }

  // ---- debug hooks for tests and benchmarks ------------------------------------------------

  /** Start the taps: what the playout plays and what the capture worklet sends to the codec. */
  startRecording() {
    this.recording = [];
    this.recordStart = null;
    this.captured = null;
    this.playout.port.postMessage({ record: true });
    this.capture.port.postMessage({ record: true });
  }

  /** Stop the taps; resolves to {played (context rate), playedStart, captured (16 kHz),
   *  capturedStart}, start times in wall-clock milliseconds. */
  stopRecording() {
    this.playout.port.postMessage({ record: false });
    this.capture.port.postMessage({ record: false });
    return new Promise((resolve) => setTimeout(() => {
      const total = this.recording.reduce((n, c) => n + c.length, 0);
      const all = new Float32Array(total);
      let at = 0;
      for (const c of this.recording) {
        all.set(c, at);
        at += c.length;
      }
      resolve({ played: all, playedStart: this.recordStart, captured: this.captured?.samples ?? new Float32Array(0),
        capturedStart: this.captured?.start ?? null });
    }, 200));
  }

  captureMarks() {
    return new Promise((resolve) => {
      this.onMarks = (data) => resolve(data);
      this.worker.postMessage({ type: "marks" });
    });
  }

  /** Encode and decode `pcm` (Float32Array, 16 kHz) from fresh codec states in the worker;
   * frames whose index is in `lost` are decoded as missing (concealed). */
  roundtrip(pcm, lost = []) {
    return new Promise((resolve, reject) => {
      this.onRoundtrip = (data) => (data.error ? reject(new Error(data.error)) : resolve(data));
      this.worker.postMessage({ type: "roundtrip", pcm, lost });
    });
  }

  async close() {
    clearInterval(this.clockTimer);
    this.worker?.terminate();
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
    await this.context?.close();
  }
}
