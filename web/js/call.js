// One participant's connection: signaling WebSocket (protocol in server/signaling.py), one
// RTCPeerConnection to the server with data channels "audio" (unordered, no retransmits) and
// "control" (receiver reports; unordered, no retransmits too), and automatic reconnection. Audio itself lives in the codec worker;
// this class only moves packets between the data channel and the worker and emits events.
//
// Reconnection: a lost WebSocket, a failed peer connection, or one that stays "disconnected"
// for DISCONNECTED_GRACE_MS starts a new join (a new id, fresh streams) after a backoff
// (1, 2, 4, 8, 8 … s, jittered); an "online" event retries at once, and after MAX_ATTEMPTS
// failures in a row the call gives up with state "failed" (the page offers to try again).

import { Backoff } from "./backoff.js";

const CONNECT_TIMEOUT_MS = 15000;
// Server refusals worth retrying (the server's trouble, not the request's), and those that end
// even a running call (the room's token no longer admits us; our identity joined elsewhere).
const RETRYABLE_CODES = new Set(["internal", "timeout", "rate-limited", "busy"]);
const FINAL_CODES = new Set(["unauthorized", "replaced"]);
const DISCONNECTED_GRACE_MS = 5000; // ICE "disconnected" this long: treat the connection as lost
export const MAX_ATTEMPTS = 12; // about a minute and a half of retrying

export class CallError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "CallError";
    this.code = code;
  }
}

export function websocketUrl(pageUrl) {
  const url = new URL("ws", pageUrl);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.search = "";
  url.hash = "";
  return url.href;
}

/** Events (via on(name, fn)): state(state, detail), joined(msg), peer-joined(msg), peer-left(msg),
 *  audio-open(id), packet(ArrayBuffer, arrivalMs), control(ArrayBuffer), error(CallError).
 *  States: idle → connecting → connected ⇄ reconnecting → idle (leave) or failed. */
export class Call {
  /** `token`: the room token the page was opened with, sent on join when the server needs one. */
  constructor({ room, name, token = null, pageUrl = location.href, maxAttempts = MAX_ATTEMPTS }) {
    this.room = room;
    this.name = name;
    this.token = token;
    this.url = websocketUrl(pageUrl);
    this.id = null;
    this.state = "idle";
    this.participants = new Map();
    this.handlers = new Map();
    this.ws = null;
    this.pc = null;
    this.audio = null;
    this.control = null;
    this.backoff = new Backoff({ maxAttempts });
    this.leaving = false;
    this.retryTimer = null;
    this.retryAt = null; // when the scheduled retry runs (ms since the epoch), for the page
    this.disconnectedTimer = null;
    this.failure = null; // the CallError that ended the call (state "failed")
    this.everConnected = false; // a retry is a reconnection, not a first attempt
    this.onOnline = () => this.retryNow();
  }

  on(event, fn) {
    if (!this.handlers.has(event)) this.handlers.set(event, []);
    this.handlers.get(event).push(fn);
    return this;
  }

  emit(event, ...args) {
    for (const fn of this.handlers.get(event) || []) fn(...args);
  }

  setState(state, detail = "") {
    this.state = state;
    this.emit("state", state, detail);
  }

  /** Connect and join; reconnects on its own after a lost connection until leave(). */
  async join() {
    if (this.leaving) return;
    globalThis.addEventListener?.("online", this.onOnline);
    this.setState(this.backoff.attempt ? "reconnecting" : "connecting");
    try {
      await this.connect();
      this.backoff.reset();
    } catch (err) {
      this.teardown();
      if (this.leaving) return;
      if (err instanceof CallError && err.fatal) {
        this.fail(err);
        return;
      }
      this.scheduleReconnect(err.message || "no reason given", err.code);
    }
  }

  /** Stop for good with a CallError: state "failed" (the page says why and offers to try again). */
  fail(err) {
    this.leaving = true;
    this.failure = err;
    this.teardown();
    this.setState("failed", err.message);
    this.emit("error", err);
  }

  /** Retry after the backoff; `code` says what failed ("ice": the media path, else the server). */
  scheduleReconnect(reason, code = "network") {
    if (this.leaving || this.retryTimer) return;
    if (globalThis.navigator?.onLine === false) {
      // Nothing to try until the network is back: the "online" event retries.
      this.setState("reconnecting", `${reason}; this device is offline, waiting for the network`);
      return;
    }
    const delay = this.backoff.next();
    if (delay === null) {
      const given = `${reason}; gave up after ${this.backoff.maxAttempts} attempts`;
      this.fail(new CallError(code === "ice" ? "ice" : "unreachable", given));
      return;
    }
    this.retryAt = Date.now() + delay;
    this.setState("reconnecting", `${reason}; retrying in ${Math.round(delay / 1000)} s`);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.retryAt = null;
      this.join();
    }, delay);
  }

  /** Retry at once (the "online" event, a "try now" button) if a retry is waiting. */
  retryNow() {
    if (this.leaving || this.state !== "reconnecting" || this.ws) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.retryAt = null;
    this.join();
  }

  /** The connection was lost after it had worked: tear down and rejoin. */
  lost(reason, code) {
    this.teardown();
    this.scheduleReconnect(reason, code);
  }

  connect() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.ws = ws;
      // Past the offer, what did not come up is the media path, not the server.
      const timer = setTimeout(() => reject(this.pc ? new CallError("ice", "the media connection did not come up")
        : new CallError("timeout", "no answer from the server")), CONNECT_TIMEOUT_MS);
      const fail = (err) => {
        clearTimeout(timer);
        reject(err);
      };
      ws.onopen = () => {
        const join = { type: "join", room: this.room, name: this.name };
        if (this.token) join.token = this.token;
        ws.send(JSON.stringify(join));
      };
      ws.onerror = () => fail(new CallError("network", "cannot reach the server"));
      ws.onclose = () => {
        fail(new CallError("network", "the server closed the connection"));
        if (this.ws === ws && this.state === "connected") this.lost("connection to the server lost");
      };
      ws.onmessage = async (event) => {
        let msg;
        try {
          msg = JSON.parse(event.data);
        } catch {
          return; // not ours to interpret; the server only sends JSON
        }
        try {
          await this.signal(msg, () => {
            clearTimeout(timer);
            resolve();
          }, fail);
        } catch (err) {
          fail(err instanceof CallError ? err : new CallError("webrtc", String(err.message || err)));
        }
      };
    });
  }

  async signal(msg, resolve, fail) {
    switch (msg.type) {
      case "joined": {
        this.id = msg.id;
        if (typeof msg.name === "string") this.name = msg.name; // the token's, or numbered if taken
        this.participants = new Map(msg.participants.map((p) => [p.id, p.name]));
        this.emit("joined", msg);
        await this.offer(msg.iceServers || [], resolve, fail);
        break;
      }
      case "answer":
        await this.pc.setRemoteDescription({ type: "answer", sdp: msg.sdp });
        break;
      case "peer-joined":
        this.participants.set(msg.id, msg.name);
        this.emit("peer-joined", msg);
        break;
      case "peer-left":
        this.participants.delete(msg.id);
        this.emit("peer-left", msg);
        break;
      case "error": {
        const err = new CallError(String(msg.code || "error"), String(msg.message || msg.code || "refused"));
        // Refusals of the join itself (bad name, no access) will not fix themselves; a full
        // room may be full of our own old connection while the server has not noticed it left.
        err.fatal = FINAL_CODES.has(err.code) || (this.state !== "connected" && !RETRYABLE_CODES.has(err.code)
          && !(err.code === "room-full" && this.state === "reconnecting"));
        fail(err);
        if (err.fatal && this.state === "connected") this.fail(err);
        break;
      }
      case "draining": // the server is going away: rejoin (it after its restart, or another)
        if (this.state === "connected") this.lost("the server is restarting");
        break;
      default:
        break;
    }
  }

  async offer(iceServers, resolve, fail) {
    const pc = new RTCPeerConnection({ iceServers });
    this.pc = pc;
    this.audio = pc.createDataChannel("audio", { ordered: false, maxRetransmits: 0 });
    this.audio.binaryType = "arraybuffer";
    // Receiver reports, unordered and never retransmitted like the audio: a lost one is
    // superseded by the next a second later (a reliable channel would hold the next ones back).
    this.control = pc.createDataChannel("control", { ordered: false, maxRetransmits: 0 });
    this.control.binaryType = "arraybuffer";
    this.control.onmessage = (event) => {
      if (event.data instanceof ArrayBuffer) this.emit("control", event.data);
    };
    this.audio.onopen = () => {
      this.everConnected = true;
      this.setState("connected");
      this.emit("audio-open", this.id);
      resolve();
    };
    this.audio.onmessage = (event) => {
      if (event.data instanceof ArrayBuffer) this.emit("packet", event.data, performance.timeOrigin + performance.now());
    };
    pc.onconnectionstatechange = () => {
      this.emit("connection", pc.connectionState);
      if (pc !== this.pc) return;
      clearTimeout(this.disconnectedTimer);
      const state = pc.connectionState;
      if (state === "failed" || (state === "closed" && !this.leaving)) {
        fail(new CallError("ice", "the media connection failed (no UDP path to the server)"));
        if (this.state === "connected") this.lost("media connection lost", "ice");
      } else if (state === "disconnected" && this.state === "connected") {
        // ICE may still recover by itself; if it has not after a grace period, rejoin.
        this.disconnectedTimer = setTimeout(() => {
          if (pc === this.pc && pc.connectionState === "disconnected") this.lost("media connection interrupted", "ice");
        }, DISCONNECTED_GRACE_MS);
      }
    };
    await pc.setLocalDescription(await pc.createOffer());
    // The server expects a complete offer (no trickle ICE): wait for gathering to finish.
    if (pc.iceGatheringState !== "complete") {
      await new Promise((done) => {
        const check = () => pc.iceGatheringState === "complete" && done();
        pc.addEventListener("icegatheringstatechange", check);
        setTimeout(done, 3000); // some networks never finish; send what we have
      });
    }
    this.ws.send(JSON.stringify({ type: "offer", sdp: pc.localDescription.sdp }));
  }

  /** Send one audio packet if the channel is open; false when it was not sent. */
  send(bytes) {
    if (!this.audio || this.audio.readyState !== "open") return false;
    // Unreliable channel: if the browser queues more than ~1 s of packets, drop rather than delay.
    if (this.audio.bufferedAmount > 16384) return false;
    this.audio.send(bytes);
    return true;
  }

  /** Send a receiver report on the control channel (the server's metrics read it). */
  sendControl(bytes) {
    if (this.control && this.control.readyState === "open") this.control.send(bytes);
  }

  teardown() {
    clearTimeout(this.disconnectedTimer);
    const { ws, pc } = this;
    this.ws = null;
    this.pc = null;
    this.audio = null;
    this.control = null;
    if (pc) pc.close();
    if (ws && ws.readyState <= WebSocket.OPEN) {
      ws.onclose = null;
      ws.close();
    }
  }

  /** Leave the room; safe to call twice. */
  leave() {
    this.leaving = true;
    globalThis.removeEventListener?.("online", this.onOnline);
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.retryAt = null;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: "leave" }));
    this.teardown();
    this.setState("idle");
  }
}
