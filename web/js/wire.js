// Bytes a packet really costs on the WebRTC data channel, both directions: the sender's side
// of transport/wire.py (WireModel), same figures. Each message is one SCTP DATA chunk in one
// DTLS record in one UDP datagram; the peer answers with SACKs, a whole datagram each, one per
// `sackEvery` DATA packets (1: aiortc today, and what the sender's cap logic assumes).

export const IPV4_UDP = 20 + 8;
export const DTLS_RECORD = 13 + 8 + 16; // header, explicit GCM nonce, tag (ECDHE-ECDSA-AES128-GCM-SHA256)
export const SCTP_COMMON = 12;
export const DATA_CHUNK = 16;
export const SACK_CHUNK = 16; // without gap blocks or duplicate TSNs
export const DATACHANNEL_OVERHEAD_IPV4 = IPV4_UDP + DTLS_RECORD + SCTP_COMMON + DATA_CHUNK; // 93
export const SACK_BYTES = IPV4_UDP + DTLS_RECORD + SCTP_COMMON + SACK_CHUNK; // 93

/** IP packet size carrying a `packetLen`-byte data-channel message (SCTP pads to 4). */
export function wireBytes(packetLen) {
  return DATACHANNEL_OVERHEAD_IPV4 + Math.ceil(packetLen / 4) * 4;
}

/** Python's round(): halves go to the even neighbour (Math.round takes them up). */
export function roundHalfEven(x) {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export class WireModel {
  /** `sackEvery`: DATA packets per SACK sent back (1, 2 with delayed SACKs; Infinity: not counted). */
  constructor({ sackEvery = 1 } = {}) {
    if (!(sackEvery >= 1)) throw new RangeError("sackEvery must be at least 1");
    this.sackEvery = sackEvery;
  }

  /** Bytes one message costs: its IP packet plus its share of a SACK coming back. */
  packetBytes(packetLen) {
    return wireBytes(packetLen) + SACK_BYTES / this.sackEvery;
  }

  /** Both directions' bit/s of a continuous stream: `framesPerPacket` frames of `frameBytes`
   *  and `redundancy` copies a packet, one packet every `framesPerPacket` frames. */
  streamBps(framesPerPacket, frameBytes, redundancy, frameMs, header = 10) {
    const size = header + roundHalfEven((framesPerPacket + redundancy) * frameBytes);
    return (8 * this.packetBytes(size) * 1000) / (frameMs * framesPerPacket);
  }
}
