// End-to-end encryption of media packets with a room key the server never sees: the sealed
// packet format of transport/e2ee.py (transport/README.md, "Sealed packet"), byte-exact
// (tests/js/e2ee.test.mjs runs it against tests/vectors/e2ee.json). WebCrypto AES-128-GCM;
// the key comes from the invite link's fragment, which browsers never send to a server.

import { PacketError } from "./packet.js";

export const SEALED_VERSION = 2;
const HEADER = 8;
const SESSION_BYTES = 6;
const TAG_BYTES = 16;
export const SEALED_HEADER_SIZE = HEADER + 1 + SESSION_BYTES; // 15
export const SEAL_OVERHEAD = SEALED_HEADER_SIZE - HEADER + TAG_BYTES; // 23
const SEQ_MOD = 65536;
const REPLAY_WINDOW = 128;
const SESSIONS_PER_SENDER = 8;
const SALT = new TextEncoder().encode("focalcall e2ee v1");
const INFO = new TextEncoder().encode("packet key");

/** reason: unencrypted | unknown-key | undecryptable | replayed | malformed */
export class E2eeError extends PacketError {
  constructor(reason, message) {
    super(message);
    this.name = "E2eeError";
    this.reason = reason;
  }
}

export function isSealed(data) {
  return data.length > 0 && data[0] >> 6 === SEALED_VERSION;
}

/** The readable header of a sealed packet. */
export function parseSealedHeader(data) {
  if (data.length && data[0] >> 6 !== SEALED_VERSION) {
    throw new E2eeError(data[0] >> 6 === 1 ? "unencrypted" : "malformed",
      `packet version ${data[0] >> 6} is not a sealed packet (${SEALED_VERSION})`);
  }
  if (data.length < SEALED_HEADER_SIZE + TAG_BYTES + 1) {
    throw new E2eeError("malformed", `sealed packet of ${data.length} bytes is shorter than the `
      + `${SEALED_HEADER_SIZE + TAG_BYTES + 1}-byte minimum`);
  }
  return { payloadType: data[0] & 0x3f, seq: (data[2] << 8) | data[3],
    timestamp: (data[4] << 16) | (data[5] << 8) | data[6], sender: data[7], epoch: data[8],
    session: data.slice(9, SEALED_HEADER_SIZE) };
}

function nonce(sender, session, seq) {
  const n = new Uint8Array(12);
  n[0] = sender;
  n.set(session, 1);
  n[10] = seq >> 8;
  n[11] = seq & 0xff;
  return n;
}

/** A 32-byte room key from unpadded base64url. */
export function decodeKey(text) {
  if (!/^[A-Za-z0-9_-]+$/.test(text)) {
    throw new RangeError("a room key is 43 characters of base64url (A-Z a-z 0-9 - _)");
  }
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4));
  if (binary.length !== 32) {
    throw new RangeError(`a room key is 32 bytes (43 base64url characters), got ${binary.length} bytes`);
  }
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** Room keys by epoch, from "EPOCH:BASE64URL" entries (newline or comma separated; a bare key is epoch 0). */
export async function parseKeyring(text) {
  const keys = new Map();
  for (const raw of String(text).replace(/,/g, "\n").split("\n")) {
    const line = raw.split("#")[0].trim();
    if (!line) continue;
    const colon = line.lastIndexOf(":");
    const epochText = colon < 0 ? "" : line.slice(0, colon);
    if (epochText && !(/^\d+$/.test(epochText) && Number(epochText) <= 255)) {
      throw new RangeError(`key epoch must be a number 0..255 (got ${JSON.stringify(epochText)})`);
    }
    const epoch = epochText ? Number(epochText) : 0;
    if (keys.has(epoch)) throw new RangeError(`two keys for epoch ${epoch}`);
    keys.set(epoch, decodeKey(line.slice(colon + 1)));
  }
  if (!keys.size) throw new RangeError("no room key found (expected EPOCH:BASE64URL)");
  const ciphers = new Map();
  for (const [epoch, key] of keys) {
    const ikm = await crypto.subtle.importKey("raw", key, "HKDF", false, ["deriveKey"]);
    const info = new Uint8Array(INFO.length + 1);
    info.set(INFO);
    info[INFO.length] = epoch;
    ciphers.set(epoch, await crypto.subtle.deriveKey({ name: "HKDF", hash: "SHA-256", salt: SALT, info }, ikm,
      { name: "AES-GCM", length: 128 }, false, ["encrypt", "decrypt"]));
  }
  return { currentEpoch: Math.max(...keys.keys()), ciphers };
}

function cipher(keyring, epoch) {
  const key = keyring.ciphers.get(epoch);
  if (!key) throw new E2eeError("unknown-key", `no room key for epoch ${epoch}`);
  return key;
}

/** Seals one sender's packets; a session holds consecutive sequence numbers only (see
 *  transport/e2ee.py). Send a packet again as the same sealed bytes, never by sealing it twice. */
export class Sealer {
  constructor(keyring, { random = (n) => crypto.getRandomValues(new Uint8Array(n)) } = {}) {
    this.keyring = keyring;
    this.random = random;
    this.session = null;
    this.sentInSession = 0;
    this.lastSeq = 0;
  }

  async seal(packet) {
    if (packet.length <= HEADER || packet[0] >> 6 !== 1) {
      throw new RangeError("seal() takes a plain (version 1) media packet");
    }
    const seq = (packet[2] << 8) | packet[3];
    if (this.session === null || seq !== (this.lastSeq + 1) % SEQ_MOD || this.sentInSession >= SEQ_MOD - 1) {
      this.session = Uint8Array.from(this.random(SESSION_BYTES));
      this.sentInSession = 0;
    }
    this.sentInSession += 1;
    this.lastSeq = seq;
    const epoch = this.keyring.currentEpoch;
    const header = new Uint8Array(SEALED_HEADER_SIZE);
    header.set(packet.subarray(0, HEADER));
    header[0] = (SEALED_VERSION << 6) | (packet[0] & 0x3f);
    header[HEADER] = epoch;
    header.set(this.session, HEADER + 1);
    const sealed = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: nonce(packet[7], this.session, seq), additionalData: header, tagLength: 128 },
      cipher(this.keyring, epoch), packet.subarray(HEADER));
    const out = new Uint8Array(SEALED_HEADER_SIZE + sealed.byteLength);
    out.set(header);
    out.set(new Uint8Array(sealed), SEALED_HEADER_SIZE);
    return out;
  }
}

class ReplayWindow {
  constructor(seq) {
    this.high = seq;
    this.seen = 1n;
  }

  offset(seq) {
    const delta = (((seq - this.high) % SEQ_MOD) + SEQ_MOD) % SEQ_MOD;
    return delta >= SEQ_MOD / 2 ? delta - SEQ_MOD : delta;
  }

  check(seq) {
    const off = this.offset(seq);
    if (off <= -REPLAY_WINDOW) throw new E2eeError("replayed", `sequence ${seq} is older than the replay window`);
    if (off <= 0 && (this.seen >> BigInt(-off)) & 1n) {
      throw new E2eeError("replayed", `sequence ${seq} was already received`);
    }
  }

  accept(seq) {
    const off = this.offset(seq);
    if (off > 0) {
      this.seen = ((this.seen << BigInt(off)) | 1n) & ((1n << BigInt(REPLAY_WINDOW)) - 1n);
      this.high = seq;
    } else {
      this.seen |= 1n << BigInt(-off);
    }
  }
}

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

/** Opens sealed packets from any sender; keeps a replay window per (sender, session). */
export class Opener {
  constructor(keyring) {
    this.keyring = keyring;
    this.windows = new Map(); // sender -> Map(session hex -> ReplayWindow), oldest first
  }

  /** The plain packet inside `data` (a Uint8Array), or an E2eeError. */
  async open(data) {
    const h = parseSealedHeader(data);
    const session = hex(h.session);
    const known = () => this.windows.get(h.sender)?.get(session);
    known()?.check(h.seq);
    let body;
    try {
      body = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: nonce(h.sender, h.session, h.seq), additionalData: data.subarray(0, SEALED_HEADER_SIZE),
          tagLength: 128 },
        cipher(this.keyring, h.epoch), data.subarray(SEALED_HEADER_SIZE));
    } catch (err) {
      if (err instanceof E2eeError) throw err;
      throw new E2eeError("undecryptable", "the packet failed authentication (another room key, or it was altered)");
    }
    // Decryption is asynchronous: another copy may have been accepted meanwhile.
    const window = known();
    if (window) {
      window.check(h.seq);
      window.accept(h.seq);
      const sessions = this.windows.get(h.sender);
      sessions.delete(session);
      sessions.set(session, window);
    } else {
      if (!this.windows.has(h.sender)) this.windows.set(h.sender, new Map());
      const sessions = this.windows.get(h.sender);
      sessions.set(session, new ReplayWindow(h.seq));
      if (sessions.size > SESSIONS_PER_SENDER) sessions.delete(sessions.keys().next().value);
    }
    const out = new Uint8Array(HEADER + body.byteLength);
    out.set(data.subarray(0, HEADER));
    out[0] = (1 << 6) | h.payloadType;
    out.set(new Uint8Array(body), HEADER);
    return out;
  }
}
