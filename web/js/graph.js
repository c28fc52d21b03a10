// A small live line plot on a canvas (no chart library): a fixed number of recent samples per
// series, the y axis scaled to the largest value shown, the latest values in the canvas's
// accessible name so the figure is not only visual.

export class Sparkline {
  /** `series`: [{label, color}]; `unit` for the axis and the accessible name; `floor`: the
   *  smallest full scale (so a quiet plot does not magnify noise); `points` kept per series. */
  constructor(canvas, { series, unit, floor = 1, points = 60, title = "" }) {
    Object.assign(this, { canvas, series, unit, floor, points, title });
    this.values = series.map(() => []);
  }

  /** Add one sample per series (null: no value at this time) and redraw. */
  push(values) {
    values.forEach((v, i) => {
      const list = this.values[i];
      list.push(v === null || v === undefined || !Number.isFinite(v) ? null : v);
      if (list.length > this.points) list.shift();
    });
    this.draw();
  }

  draw() {
    const { canvas } = this;
    const ratio = globalThis.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== width || canvas.height !== height) Object.assign(canvas, { width, height });
    const ctx = canvas.getContext("2d");
    if (!ctx) return;
    const all = this.values.flat().filter((v) => v !== null);
    const top = niceMax(Math.max(this.floor, ...all));
    ctx.clearRect(0, 0, width, height);
    ctx.font = `${11 * ratio}px system-ui, sans-serif`;
    ctx.fillStyle = "#666";
    ctx.strokeStyle = "#ddd";
    ctx.lineWidth = ratio;
    for (const frac of [0, 0.5, 1]) {
      const y = Math.round(6 * ratio + (1 - frac) * (height - 12 * ratio)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(0, y);
      ctx.lineTo(width, y);
      ctx.stroke();
      if (frac > 0) ctx.fillText(`${formatValue(top * frac)} ${this.unit}`, 4 * ratio, y + 12 * ratio);
    }
    const step = width / Math.max(1, this.points - 1);
    this.series.forEach(({ color }, i) => {
      const list = this.values[i];
      const offset = this.points - list.length;
      ctx.strokeStyle = color;
      ctx.lineWidth = 2 * ratio;
      ctx.beginPath();
      let pen = false;
      list.forEach((v, k) => {
        if (v === null) {
          pen = false;
          return;
        }
        const x = (offset + k) * step;
        const y = 6 * ratio + (1 - Math.min(v, top) / top) * (height - 12 * ratio);
        if (pen) ctx.lineTo(x, y);
        else ctx.moveTo(x, y);
        pen = true;
      });
      ctx.stroke();
    });
    const latest = this.series.map(({ label }, i) => {
      const v = this.values[i].at(-1);
      return `${label} ${v === null || v === undefined ? "–" : formatValue(v)} ${this.unit}`;
    });
    canvas.setAttribute("aria-label", `${this.title}: ${latest.join(", ")}`);
  }
}

/** The next "round" full scale at or above `x` (1, 2, 5 × 10^k). */
export function niceMax(x) {
  const exp = 10 ** Math.floor(Math.log10(x));
  return [1, 2, 5, 10].map((m) => m * exp).find((m) => m >= x * 0.999);
}

function formatValue(v) {
  return v >= 10 || v === 0 ? v.toFixed(0) : v.toFixed(1);
}
