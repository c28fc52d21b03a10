// Frame-prediction concealment for the neural codec, as codec/neural/concealer.py does it (the
// reference; same constants): a small GRU watches every code decoded; for a missing frame it
// offers the expected next code, tanh(logit / 2), and tells the predictor the frame is unknown
// (an all-zero code, as in training), so a burst is predicted step by step. Past
// FADE_AFTER_FRAMES missing frames the output fades to silence over FADE_FRAMES frames. Without
// a shipped predictor a missing frame is an all-zero code.

export const FADE_AFTER_FRAMES = 6;
export const FADE_FRAMES = 4;

/** Load the predictor shipped next to the codec (`focal_predictor.json`), or null if none. */
export async function loadPredictor(ort, base, options) {
  const response = await fetch(new URL("focal_predictor.json", base).href);
  if (!response.ok) return null;
  const meta = await response.json();
  const session = await ort.InferenceSession.create(new URL(meta.onnx, base).href, options);
  return { ort, session, bits: meta.bits, hidden: meta.hidden };
}

/** One stream's concealment state: the predictor's memory and the current run of losses. */
export class CodeConcealer {
  constructor(predictor, sentBits) {
    this.predictor = predictor;
    this.sentBits = sentBits;
    this.missingRun = 0;
    if (predictor) {
      this.state = new predictor.ort.Tensor("float32", new Float32Array(predictor.hidden), [1, predictor.hidden]);
      this.logits = new Float32Array(predictor.bits);
    }
  }

  /** Account a real code (+-1, 0 for bits not sent) that goes to the decoder. */
  async observe(code) {
    this.missingRun = 0;
    await this._step(code);
  }

  /** The code (Float32Array(totalBits)) to decode in place of a missing frame. */
  async conceal(totalBits) {
    this.missingRun += 1;
    const guess = new Float32Array(totalBits);
    if (!this.predictor) return guess;
    for (let i = 0; i < Math.min(this.sentBits, this.predictor.bits); i++) guess[i] = Math.tanh(this.logits[i] / 2);
    await this._step(new Float32Array(totalBits)); // the predictor hears "unknown", as trained
    return guess;
  }

  /** Output gain for the frame just decoded: 1, then a fade after a long burst. */
  gain() {
    const over = this.missingRun - FADE_AFTER_FRAMES;
    return over <= 0 ? 1 : Math.max(0, 1 - over / FADE_FRAMES);
  }

  async _step(code) {
    if (!this.predictor) return;
    const { ort, session, bits } = this.predictor;
    const out = await session.run({ code: new ort.Tensor("float32", Float32Array.from(code.slice(0, bits)), [1, bits]),
      state: this.state });
    this.logits = out.logits.data;
    this.state = out.next_state;
  }
}
