// Connection quality per participant, as the listener hears it: good / fair / poor from the
// last few seconds of one stream's jitter-buffer counters (loss after recovery, concealment,
// buffer delay), with the figures behind the grade for a tooltip. Pure: fed counters, no DOM.

export const WINDOW_MS = 5000;
const START_FRAMES = 50; // a stream's first second (buffer priming) is left out of its grade
// Grade limits: a grade is the worst any figure earns. Concealed frames count every frame the
// listener did not hear as sent (lost for good or late), the figure people notice first.
export const LIMITS = {
  concealed: { fair: 0.01, poor: 0.05 }, // fraction of frames played
  lossAfter: { fair: 0.005, poor: 0.03 }, // frames lost for good, fraction of frames played
  lossBefore: { fair: 0.15, poor: 0.5 }, // packets lost on the network, before recovery
  delayMs: { fair: 200, poor: 400 }, // time frames wait in the jitter buffer
};
const RANK = { good: 0, fair: 1, poor: 2 };

function grade(value, limits) {
  if (value === null || value === undefined) return "good"; // not known: does not pull the grade down
  return value >= limits.poor ? "poor" : value >= limits.fair ? "fair" : "good";
}

/** The worst of several grades. */
export function worst(...grades) {
  return grades.reduce((a, b) => (RANK[b] > RANK[a] ? b : a), "good");
}

/** Figures over a window from two cumulative jitter-buffer summaries (jitter.js `summary()`);
 *  null when nothing was played in between. */
export function windowFigures(first, last) {
  const played = last.framesPlayed - first.framesPlayed;
  if (played <= 0) return null;
  const concealed = last.framesConcealed - first.framesConcealed;
  const underruns = (last.underruns ?? 0) - (first.underruns ?? 0);
  const expected = last.packetsExpected - first.packetsExpected;
  const received = last.packetsReceived - first.packetsReceived;
  return {
    concealed: concealed / played,
    lossAfter: Math.max(0, concealed - underruns) / played,
    lossBefore: expected > 0 ? Math.max(0, expected - received) / expected : 0,
    delayMs: last.bufferDelayMs,
    jitterMs: last.jitterMs,
  };
}

/** Grade figures: {grade, figures, reasons} (reasons name what pulled the grade down). */
export function gradeFigures(figures) {
  if (!figures) return { grade: null, figures: null, reasons: [] };
  const grades = Object.entries(LIMITS).map(([name, limits]) => [name, grade(figures[name], limits)]);
  const overall = worst(...grades.map(([, g]) => g));
  return { grade: overall, figures, reasons: grades.filter(([, g]) => g === overall && g !== "good").map(([n]) => n) };
}

/** Figures of a receiver report about our own stream (packet.js `parseReport`), as the
 *  listener measured them: what "my connection" means to the others. */
export function reportFigures(report) {
  return { concealed: report.residualLoss, lossAfter: null, lossBefore: report.lossFraction,
    delayMs: report.playoutDelayMs, jitterMs: report.jitterMs };
}

/** One incoming stream: push() every statistics sample, read grade(). */
export class StreamQuality {
  constructor(windowMs = WINDOW_MS) {
    this.windowMs = windowMs;
    this.samples = []; // [timeMs, summary]
  }

  push(summary, nowMs) {
    if (summary.framesPlayed < START_FRAMES) return; // the start-up's priming is not the link
    this.samples.push([nowMs, summary]);
    while (this.samples.length > 2 && nowMs - this.samples[1][0] >= this.windowMs) this.samples.shift();
  }

  /** {grade: "good"|"fair"|"poor"|null, figures, reasons} over the window. */
  grade() {
    if (this.samples.length < 2) return gradeFigures(null);
    return gradeFigures(windowFigures(this.samples[0][1], this.samples[this.samples.length - 1][1]));
  }
}

/** Words for a tooltip: "fair: 3.2 % of audio concealed, 1.0 % lost after recovery, …". */
export function describe({ grade: g, figures: f }) {
  if (!g) return "no audio received yet";
  const pct = (x) => `${(100 * x).toFixed(x < 0.1 ? 1 : 0)} %`;
  const after = f.lossAfter === null ? "" : `, ${pct(f.lossAfter)} lost after recovery`;
  return `${g}: ${pct(f.concealed)} of audio concealed${after}, ${pct(f.lossBefore)} of packets lost `
    + `on the way, ${Math.round(f.delayMs)} ms in the jitter buffer, jitter ${f.jitterMs.toFixed(1)} ms`;
}
