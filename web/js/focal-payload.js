// The neural codec's payload (codec/neural/runtime.py defines it; this is the same for the
// modes with one code per 20 ms frame): code bit i (the i-th sign of the binary spherical code,
// 1 = +1, 0 = -1) sits in byte i >> 3 at bit 7 - (i & 7), most significant first; ceil(bits / 8)
// bytes. Unsent bits reach the decoder as 0 (neither sign) and a missing frame is all zeros.
// focal-600 packs two 12-bit codes into 3 bytes per 40 ms frame; this page does not play it.

export class PayloadError extends Error {
  constructor(message) {
    super(message);
    this.name = "PayloadError";
  }
}

/** First `bits` signs (any numbers; > 0 means +1) -> ceil(bits / 8) bytes. */
export function packBits(signs, bits) {
  const out = new Uint8Array(Math.ceil(bits / 8));
  for (let i = 0; i < bits; i++) if (signs[i] > 0) out[i >> 3] |= 0x80 >> (i & 7);
  return out;
}

/** Inverse of packBits: Float32Array(total) of +-1 for the sent bits, 0 for the rest.
 * `payload` null (a lost frame) gives all zeros: the decoder conceals. */
export function unpackBits(payload, bits, total) {
  const signs = new Float32Array(total);
  if (payload === null) return signs;
  const nbytes = Math.ceil(bits / 8);
  if (payload.length !== nbytes) {
    throw new PayloadError(`payload of ${payload.length} bytes, expected ${nbytes} for ${bits} bits`);
  }
  for (let i = 0; i < 8 * nbytes; i++) {
    const bit = (payload[i >> 3] >> (7 - (i & 7))) & 1;
    if (i >= bits && bit) throw new PayloadError(`payload has bits set beyond the first ${bits}: wrong codec mode?`);
    if (i < bits) signs[i] = bit ? 1 : -1;
  }
  return signs;
}

/** Bits per 20 ms frame of the focal modes this page sends and plays (one code per payload). */
export const FOCAL_MODES = { "focal-800": 16, "focal-400": 8 };
