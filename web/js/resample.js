// Streaming sample-rate conversion by a windowed-sinc filter, exact for rational ratios:
// positions are kept as integers in units of 1/outRate input samples, so 48 kHz <-> 16 kHz
// uses 1 (down) or 3 (up) precomputed phases and never drifts. Runs in an AudioWorklet
// (no allocation per call beyond the output array) and in node for tests.

const gcd = (a, b) => (b ? gcd(b, a % b) : a);

export class Resampler {
  /** zeros: sinc zero crossings each side; the filter's delay is `delaySamples` input samples. */
  constructor(inRate, outRate, { zeros = 16, cutoff = 0.92 } = {}) {
    if (!Number.isInteger(inRate) || !Number.isInteger(outRate) || inRate <= 0 || outRate <= 0) {
      throw new RangeError(`sample rates must be positive integers (got ${inRate}, ${outRate})`);
    }
    const g = gcd(inRate, outRate);
    this.inStep = inRate / g; // input samples advance by inStep/outStep per output sample
    this.outStep = outRate / g;
    // Cut-off relative to the input Nyquist: below the lower of the two Nyquist rates.
    const fc = cutoff * Math.min(1, outRate / inRate);
    this.half = Math.ceil(zeros / fc);
    this.delaySamples = this.half;
    this.phases = [];
    for (let p = 0; p < this.outStep; p++) {
      const frac = p / this.outStep;
      const taps = new Float32Array(2 * this.half);
      let sum = 0;
      for (let j = 0; j < taps.length; j++) {
        const x = j - this.half + 1 - frac; // distance of input sample from the output position
        const w = Math.abs(x) >= this.half ? 0 : 0.5 + 0.5 * Math.cos((Math.PI * x) / this.half);
        const s = x === 0 ? 1 : Math.sin(Math.PI * fc * x) / (Math.PI * fc * x);
        taps[j] = fc * s * w;
        sum += taps[j];
      }
      for (let j = 0; j < taps.length; j++) taps[j] /= sum;
      this.phases.push(taps);
    }
    // History holds the last inputs; the first output sits `half` samples into it (zeros).
    this.buf = new Float32Array(4096);
    this.len = 2 * this.half - 1;
    this.pos = 0; // output position: buf index (half - 1) + pos / outStep, in 1/outStep units
  }

  /** Feed input samples; returns the output samples now computable. */
  process(input) {
    if (this.len + input.length > this.buf.length) {
      const bigger = new Float32Array(2 * (this.len + input.length));
      bigger.set(this.buf.subarray(0, this.len));
      this.buf = bigger;
    }
    this.buf.set(input, this.len);
    this.len += input.length;
    const n = this.half * 2;
    // Output k needs buf[i .. i + n - 1] with i = floor(pos / outStep).
    const available = this.len - n + 1; // number of valid start indices i
    const count = available > 0 ? Math.max(0, Math.ceil((available * this.outStep - this.pos) / this.inStep)) : 0;
    const out = new Float32Array(count);
    const buf = this.buf;
    let pos = this.pos;
    for (let k = 0; k < count; k++) {
      const i = Math.floor(pos / this.outStep);
      const taps = this.phases[pos - i * this.outStep];
      let acc = 0;
      for (let j = 0; j < n; j++) acc += buf[i + j] * taps[j];
      out[k] = acc;
      pos += this.inStep;
    }
    const drop = Math.min(Math.floor(pos / this.outStep), this.len);
    buf.copyWithin(0, drop, this.len);
    this.len -= drop;
    this.pos = pos - drop * this.outStep;
    return out;
  }
}
