// One participant's connection: signaling WebSocket (protocol in server/signaling.py), one
// RTCPeerConnection to the server with data channels "audio" (unordered, no retransmits) and
// "control" (reliable), and automatic reconnection. Audio itself lives in the codec worker;
// this class only moves packets between the data channel and the worker and emits events.

const RECONNECT_DELAYS_S = [1, 2, 4, 8];
const CONNECT_TIMEOUT_MS = 15000;

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
 *  audio-open(id), packet(ArrayBuffer, arrivalMs), control(ArrayBuffer), error(CallError). */
export class Call {
  constructor({ room, name, token = null, pageUrl = location.href }) {
    this.room = room;
    this.name = name;
    this.token = token; // the invite's room token (servers outside loopback require one)
    this.url = websocketUrl(pageUrl);
    this.id = null;
    this.state = "idle";
    this.participants = new Map();
    this.handlers = new Map();
    this.ws = null;
    this.pc = null;
    this.audio = null;
    this.attempt = 0;
    this.leaving = false;
    this.retryTimer = null;
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
    this.leaving = false;
    this.setState(this.attempt ? "reconnecting" : "connecting");
    try {
      await this.connect();
      this.attempt = 0;
    } catch (err) {
      this.teardown();
      if (this.leaving) return;
      if (err instanceof CallError && err.fatal) {
        this.setState("failed", err.message);
        this.emit("error", err);
        return;
      }
      this.scheduleReconnect(err.message);
    }
  }

  scheduleReconnect(reason) {
    if (this.leaving || this.retryTimer) return;
    const delay = RECONNECT_DELAYS_S[Math.min(this.attempt, RECONNECT_DELAYS_S.length - 1)];
    this.attempt += 1;
    this.setState("reconnecting", `${reason} — retrying in ${delay} s`);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.join();
    }, delay * 1000);
  }

  connect() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.ws = ws;
      const timer = setTimeout(() => reject(new CallError("timeout", "no connection to the server")), CONNECT_TIMEOUT_MS);
      const fail = (err) => {
        clearTimeout(timer);
        reject(err);
      };
      ws.onopen = () => ws.send(JSON.stringify({ type: "join", room: this.room, name: this.name,
        ...(this.token ? { token: this.token } : {}) }));
      ws.onerror = () => fail(new CallError("network", "cannot reach the server"));
      ws.onclose = () => {
        fail(new CallError("network", "the server closed the connection"));
        if (this.ws === ws && this.state === "connected") {
          this.teardown();
          this.scheduleReconnect("connection to the server lost");
        }
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
        const err = new CallError(msg.code, msg.message);
        // Refusals of the join itself (bad name, full room, no valid token) will not fix
        // themselves, nor will being replaced by another connection with our identity.
        err.fatal = this.state !== "connected" || ["unauthorized", "replaced"].includes(msg.code);
        fail(err);
        if (err.fatal && this.state === "connected") {
          this.teardown();
          this.setState("failed", msg.message);
          this.emit("error", err);
        }
        break;
      }
      case "draining": // the server is going away: reconnect (to it after a restart, or elsewhere)
        if (this.state === "connected") {
          this.teardown();
          this.scheduleReconnect("the server is restarting");
        }
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
    this.control = pc.createDataChannel("control");
    this.control.binaryType = "arraybuffer";
    this.control.onmessage = (event) => {
      if (event.data instanceof ArrayBuffer) this.emit("control", event.data);
    };
    this.audio.onopen = () => {
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
      if (pc.connectionState === "failed" || (pc.connectionState === "closed" && !this.leaving)) {
        fail(new CallError("ice", "media connection failed"));
        if (this.state === "connected") {
          this.teardown();
          this.scheduleReconnect("media connection lost");
        }
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

  /** Send a receiver report on the reliable control channel (the server's metrics read it). */
  sendControl(bytes) {
    if (this.control && this.control.readyState === "open") this.control.send(bytes);
  }

  teardown() {
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
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: "leave" }));
    this.teardown();
    this.setState("idle");
  }
}
