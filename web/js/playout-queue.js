// One sender's decoded frames waiting in the playout worklet. The worker decodes one frame per
// playout tick, so when the worker is starved of CPU its frames arrive late and then in a burst
// (it serves the ticks it missed). The queue keeps that burst as a cushion instead of
// discarding it: a stall costs one gap of silence, never the audio itself, and the cushion it
// leaves absorbs the next stall of the same length. The cushion is given back slowly, by
// dropping quiet frames once the queue has stayed deeper than needed for a whole window, so
// the delay follows the worker's recent stalls both ways. Pure: no AudioWorklet globals.

export class PlayoutQueue {
  /** `frame` samples per frame; a sender starts (and restarts after running dry) with
   *  `startFrames` queued; a backlog over `maxFrames` is trimmed back to `startFrames`
   *  (a stall longer than that is not worth its delay); `windowSamples` of playback with the
   *  queue never below `startFrames + k` frames lets half of those `k` frames go, as quiet
   *  frames (peak under `quietPeak`) come up. */
  constructor({ frame = 320, startFrames = 2, maxFrames = 25, windowSamples = 4 * 16000, quietPeak = 0.01 } = {}) {
    if (!(startFrames >= 1 && maxFrames > startFrames)) throw new RangeError("need 1 <= startFrames < maxFrames");
    Object.assign(this, { frame, startFrames, maxFrames, windowSamples, quietPeak });
    this.frames = []; // {pcm, ts, offset, peak}
    this.queued = 0; // samples not yet played
    this.playing = false;
    this.low = Infinity; // fewest samples queued during the current window
    this.windowPlayed = 0;
    this.toDrop = 0; // quiet frames that may still be dropped
    this.peak = 0; // loudest sample played since the caller last reset it (level meters)
    this.stats = { underruns: 0, trimmed: 0, dropped: 0 };
  }

  push(pcm, ts = null) {
    let peak = 0;
    for (let i = 0; i < pcm.length; i++) peak = Math.max(peak, Math.abs(pcm[i]));
    this.frames.push({ pcm, ts, offset: 0, peak });
    this.queued += pcm.length;
  }

  shift() {
    const f = this.frames.shift();
    this.queued -= f.pcm.length - f.offset;
    return f;
  }

  /** Add up to `n` samples into `out` from index `at`; `onStart(ts, i)` for each frame whose
   *  first sample is played at `out[at + i]`. Returns whether the sender is playing. */
  mixInto(out, at, n, onStart) {
    if (this.queued > this.maxFrames * this.frame) {
      while (this.queued > this.startFrames * this.frame) this.shift();
      this.stats.trimmed += 1;
    }
    if (!this.playing) {
      if (this.queued < this.startFrames * this.frame) return false;
      this.playing = true;
    }
    this.adapt(n);
    let i = 0;
    while (i < n && this.frames.length) {
      const f = this.frames[0];
      if (f.offset === 0 && f.ts !== null && f.ts !== undefined) onStart?.(f.ts, i);
      const take = Math.min(n - i, f.pcm.length - f.offset);
      for (let k = 0; k < take; k++) {
        const v = f.pcm[f.offset + k];
        out[at + i + k] += v;
        if (Math.abs(v) > this.peak) this.peak = Math.abs(v);
      }
      i += take;
      f.offset += take;
      this.queued -= take;
      if (f.offset === f.pcm.length) this.frames.shift();
    }
    if (i < n) {
      this.playing = false;
      this.stats.underruns += 1;
      this.low = 0;
    }
    return true;
  }

  // Give back half the cushion the last window did not need, a quiet frame at a time.
  adapt(n) {
    this.low = Math.min(this.low, this.queued);
    this.windowPlayed += n;
    if (this.windowPlayed >= this.windowSamples) {
      this.toDrop = Math.ceil(Math.max(0, Math.floor(this.low / this.frame) - this.startFrames) / 2);
      this.low = Infinity;
      this.windowPlayed = 0;
    }
    while (this.toDrop > 0 && this.frames.length > this.startFrames && this.frames[0].offset === 0
      && this.frames[0].peak < this.quietPeak) {
      this.shift();
      this.toDrop -= 1;
      this.stats.dropped += 1;
    }
  }
}
