// Who is speaking: a level detector with hysteresis and hang time over the peak levels the
// audio worklets report every 100 ms (decoded audio per sender, the microphone for oneself),
// so the indicator lights on the first syllable and does not flicker between words.

export const SPEAKING_ON = 0.05; // peak of a 100 ms block (about -26 dBFS) that starts speech
export const SPEAKING_OFF = 0.02; // below this the talker is quiet (hang time still applies)
export const HANG_MS = 600; // stay lit this long after the last loud block

/** Peak level (0..1, full scale 1) as a meter value 0..1: a dB scale from -60 dBFS to 0. */
export function meterValue(peak) {
  if (!(peak > 0)) return 0;
  const db = 20 * Math.log10(Math.min(1, peak));
  return Math.max(0, Math.min(1, (db + 60) / 60));
}

export class SpeakingDetector {
  constructor({ on = SPEAKING_ON, off = SPEAKING_OFF, hangMs = HANG_MS } = {}) {
    if (!(on > off && off >= 0)) throw new RangeError("need on > off >= 0");
    Object.assign(this, { on, off, hangMs });
    this.speaking = false;
    this.lastLoud = -Infinity;
  }

  /** Feed one level report (peak, at time `nowMs`); returns whether the participant is speaking. */
  update(peak, nowMs) {
    if (peak >= this.on || (this.speaking && peak >= this.off)) this.lastLoud = nowMs;
    this.speaking = nowMs - this.lastLoud <= this.hangMs;
    return this.speaking;
  }
}
