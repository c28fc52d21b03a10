// AudioWorklet processors: "focal-capture" turns the microphone into 20 ms frames at 16 kHz,
// "focal-playout" mixes the decoded 16 kHz frames of every sender and plays them. Frames go
// straight to and from the codec worker over a MessagePort, never through the main thread;
// the playout's consumption of samples is the clock that paces decoding ("tick" per frame).
// Level meters and the debug tap (what this page plays, for tests) go to the main thread.

import { PlayoutQueue } from "./playout-queue.js";
import { Resampler } from "./resample.js";

const RATE = 16000;
const FRAME = 320;
const METER_EVERY = 0.1; // seconds between level reports

const rms = (x) => {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return x.length ? Math.sqrt(s / x.length) : 0;
};

class CaptureProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.resampler = new Resampler(sampleRate, RATE);
    this.frame = new Float32Array(FRAME);
    this.fill = 0;
    this.codec = null; // MessagePort to the codec worker
    this.muted = false;
    this.peak = 0;
    this.sinceMeter = 0;
    this.tap = null; // debug tap: the 16 kHz samples as captured, and when the first one was
    this.tapStart = null;
    this.port.onmessage = ({ data }) => {
      if (data.codecPort) this.codec = data.codecPort;
      if ("muted" in data) this.muted = data.muted;
      if (data.record === true) {
        this.tap = [];
        this.tapStart = null;
      }
      if (data.record === false && this.tap) {
        const all = Float32Array.from(this.tap.flatMap((c) => Array.from(c)));
        this.port.postMessage({ captured: all, start: this.tapStart }, [all.buffer]);
        this.tap = null;
      }
    };
  }

  process(inputs) {
    const input = inputs[0] && inputs[0][0];
    if (!input) return true;
    const level = rms(input);
    this.peak = Math.max(this.peak, level); // muted too: the page says "you are muted" when you talk
    this.sinceMeter += input.length / sampleRate;
    if (this.sinceMeter >= METER_EVERY) {
      this.port.postMessage({ level: this.peak });
      this.peak = 0;
      this.sinceMeter = 0;
    }
    const down = this.resampler.process(input);
    if (this.tap && down.length) {
      if (this.tapStart === null) {
        this.tapStart = currentTime + input.length / sampleRate - down.length / RATE
          - this.resampler.delaySamples / sampleRate;
      }
      this.tap.push(down);
    }
    for (let i = 0; i < down.length; i++) {
      this.frame[this.fill++] = this.muted ? 0 : down[i];
      if (this.fill === FRAME) {
        if (this.codec) {
          // contextTime of the frame's last sample: the capture marker for mouth-to-ear delay.
          const end = currentTime + (i + 1 - down.length) / RATE + input.length / sampleRate
            - this.resampler.delaySamples / sampleRate;
          this.codec.postMessage({ frame: this.frame, time: end }, [this.frame.buffer]);
        }
        this.frame = new Float32Array(FRAME);
        this.fill = 0;
      }
    }
    return true;
  }
}

class PlayoutProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.resampler = new Resampler(RATE, sampleRate);
    this.senders = new Map(); // id -> PlayoutQueue
    this.out = new Float32Array(4096); // upsampled samples not yet played
    this.outLen = 0;
    this.consumed = 0; // 16 kHz samples consumed since the last tick
    this.codec = null;
    this.sinceMeter = 0;
    this.recording = null; // debug tap: chunks of what was played
    this.recorded = 0;
    this.marks = []; // [ts, contextTime] when a frame's first sample is played
    this.port.onmessage = ({ data }) => {
      if (data.codecPort) {
        this.codec = data.codecPort;
        this.codec.onmessage = ({ data: m }) => (m.forget !== undefined ? this.senders.delete(m.forget) : this.receive(m));
      }
      if (data.record === true) {
        this.recording = [];
        this.recordStart = null;
      }
      if (data.record === false) this.flushRecording(true);
    };
  }

  receive({ sender, pcm, ts }) {
    if (!this.senders.has(sender)) {
      this.senders.set(sender, new PlayoutQueue({ frame: FRAME, windowSamples: 4 * RATE }));
    }
    this.senders.get(sender).push(pcm, ts);
  }

  // Mix `n` samples at 16 kHz from every sender (`time`: when the first one plays).
  mix(n, time) {
    const mixed = new Float32Array(n);
    for (const queue of this.senders.values()) {
      queue.mixInto(mixed, 0, n, (ts, i) => this.marks.push([ts, time + i / RATE]));
    }
    return mixed;
  }

  process(inputs, outputs) {
    const output = outputs[0];
    const need = output[0].length;
    while (this.outLen < need) {
      const chunk = 16;
      // When the first of these samples reaches the output (contextTime): the playout marker.
      const time = currentTime + this.outLen / sampleRate + this.resampler.delaySamples / RATE;
      const up = this.resampler.process(this.mix(chunk, time));
      this.out.set(up, this.outLen);
      this.outLen += up.length;
      this.consumed += chunk;
      if (this.consumed >= FRAME) {
        this.consumed -= FRAME;
        if (this.codec) this.codec.postMessage({ tick: true });
      }
    }
    for (const channel of output) channel.set(this.out.subarray(0, need));
    if (this.recording) {
      if (this.recordStart === null) {
        this.recordStart = currentTime;
        this.port.postMessage({ recordStart: currentTime });
      }
      this.recording.push(this.out.slice(0, need));
      this.recorded += need;
      if (this.recorded >= sampleRate / 2) this.flushRecording(false);
    }
    this.out.copyWithin(0, need, this.outLen);
    this.outLen -= need;
    this.sinceMeter += need / sampleRate;
    if (this.sinceMeter >= METER_EVERY) {
      const levels = {};
      const underruns = {};
      for (const [id, queue] of this.senders) {
        levels[id] = queue.peak;
        underruns[id] = [queue.stats.underruns, queue.stats.trimmed, queue.stats.dropped, queue.queued];
        queue.peak = 0;
      }
      this.port.postMessage({ levels, underruns, marks: this.marks });
      this.marks = [];
      this.sinceMeter = 0;
    }
    return true;
  }

  flushRecording(stop) {
    if (this.recording && this.recording.length) {
      const all = new Float32Array(this.recorded);
      let at = 0;
      for (const c of this.recording) {
        all.set(c, at);
        at += c.length;
      }
      this.port.postMessage({ recorded: all }, [all.buffer]);
    }
    this.recording = stop ? null : [];
    this.recorded = 0;
  }
}

registerProcessor("focal-capture", CaptureProcessor);
registerProcessor("focal-playout", PlayoutProcessor);
