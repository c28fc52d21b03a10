// Voice activity for DTX, as codec/vad.py: frame level against an adaptive noise floor (drops
// at once to a quieter frame, climbs 0.05 dB a frame); speech is 9 dB above it and above
// -55 dBFS. The non-speech frames' smoothed power is the background level keep-alives report.

export class Vad {
  constructor({ marginDb = 9, minSpeechDbfs = -55, riseDb = 0.05, smoothing = 0.9 } = {}) {
    Object.assign(this, { marginDb, minSpeechDbfs, riseDb, smoothing });
    this.floor = null;
    this.background = 0; // power
  }

  /** Classify one frame (Float32Array, full scale 1.0): true for speech. */
  update(frame) {
    let power = 0;
    for (let i = 0; i < frame.length; i++) power += frame[i] * frame[i];
    power = frame.length ? power / frame.length : 0;
    const level = power > 0 ? Math.max(-127, 10 * Math.log10(power)) : -127;
    this.floor = this.floor === null || level < this.floor ? level : Math.min(level, this.floor + this.riseDb);
    const speech = level >= this.minSpeechDbfs && level >= this.floor + this.marginDb;
    if (!speech) {
      const p = 10 ** (level / 10);
      this.background = this.background ? this.smoothing * this.background + (1 - this.smoothing) * p : p;
    }
    return speech;
  }

  /** The pauses' level as a keep-alive's byte: -dBov, 0..127. */
  get backgroundLevel() {
    const db = this.background > 0 ? 10 * Math.log10(this.background) : -127;
    return Math.min(127, Math.max(0, Math.round(-db)));
  }
}
