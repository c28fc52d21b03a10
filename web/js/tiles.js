// Participant tiles: one per person, yourself first. Each shows the name, a ring and a level
// meter that light while the person is heard speaking, a state line ("speaking", "muted", …)
// and a connection-quality button whose figures appear on hover, focus or tap. Tiles are
// updated in place, so keyboard focus and screen-reader position survive the live updates.

import { SpeakingDetector, meterValue } from "./speaking.js";
import { describe } from "./quality.js";

const QUALITY_WORDS = { good: "good", fair: "fair", poor: "poor" };

export class Tiles {
  constructor(list) {
    this.list = list;
    this.tiles = new Map(); // id -> {li, parts, speaking: SpeakingDetector}
  }

  /** Make the tiles match `people` ([{id, name, self}]), yourself first, others by id. */
  sync(people) {
    const wanted = new Map(people.map((p) => [p.id, p]));
    for (const [id, tile] of this.tiles) {
      if (!wanted.has(id)) {
        tile.li.remove();
        this.tiles.delete(id);
      }
    }
    const ordered = [...people].sort((a, b) => (b.self - a.self) || (a.id - b.id));
    for (const p of ordered) {
      const tile = this.tiles.get(p.id) || this.create(p);
      tile.parts.name.textContent = p.name;
      tile.parts.who.title = p.name; // the full name where the tile shortens it
      this.list.append(tile.li); // re-appending keeps the order; focus stays on the element
    }
  }

  create({ id, name, self }) {
    const li = element("li", "tile");
    li.dataset.id = id;
    li.dataset.speaking = "false";
    if (self) li.classList.add("self");
    const avatar = element("div", "avatar");
    avatar.setAttribute("aria-hidden", "true");
    avatar.textContent = initials(name);
    const who = element("div", "who");
    const nameEl = element("span", "name");
    who.append(nameEl);
    if (self) who.append(element("span", "you", " (you)"));
    const meter = element("meter", "level");
    Object.assign(meter, { min: 0, max: 1, low: 0.7, high: 0.9, optimum: 0.5, value: 0 });
    meter.setAttribute("aria-label", self ? "Your microphone level" : `${name}'s level`);
    const state = element("span", "peer-state");
    const quality = element("button", "quality unknown");
    quality.type = "button";
    const tipId = `quality-tip-${id}`;
    quality.setAttribute("aria-describedby", tipId);
    quality.setAttribute("aria-expanded", "false");
    const tip = element("span", "tip");
    tip.id = tipId;
    tip.setAttribute("role", "tooltip");
    quality.addEventListener("click", () => {
      const open = quality.getAttribute("aria-expanded") !== "true";
      quality.setAttribute("aria-expanded", String(open));
      li.classList.toggle("tip-open", open);
    });
    quality.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        quality.setAttribute("aria-expanded", "false");
        li.classList.remove("tip-open");
      }
    });
    const bars = element("span", "bars");
    bars.setAttribute("aria-hidden", "true");
    for (let i = 0; i < 3; i++) bars.append(element("i"));
    quality.append(bars);
    li.append(avatar, who, meter, state, quality, tip);
    const tile = { li, parts: { avatar, who, name: nameEl, meter, state, quality, tip },
      speaking: new SpeakingDetector(), self: Boolean(self), label: name };
    this.tiles.set(id, tile);
    this.setQuality(id, { grade: null, figures: null, reasons: [] }, self ? "your connection" : "connection");
    return tile;
  }

  /** A level report (peak 0..1) at `nowMs`; `silent`: show nothing (muted, listen-only). */
  setLevel(id, peak, nowMs, silent = false) {
    const tile = this.tiles.get(id);
    if (!tile) return;
    const level = silent ? 0 : peak;
    tile.parts.meter.value = meterValue(level);
    const speaking = tile.speaking.update(level, nowMs);
    tile.li.dataset.speaking = String(speaking);
    tile.li.classList.toggle("speaking", speaking);
  }

  /** The state line: words such as "speaking", "muted", "no audio yet". */
  setState(id, words) {
    const tile = this.tiles.get(id);
    if (tile && tile.parts.state.textContent !== words) tile.parts.state.textContent = words;
  }

  /** A quality grade from quality.js (`grade` null: not known yet). */
  setQuality(id, graded, what = "connection") {
    const tile = this.tiles.get(id);
    if (!tile) return;
    const grade = graded.grade || "unknown";
    const { quality, tip } = tile.parts;
    quality.className = `quality ${grade}`;
    tile.li.dataset.quality = grade;
    const words = graded.grade ? QUALITY_WORDS[graded.grade] : "not measured yet";
    quality.setAttribute("aria-label", `${tile.self ? "Your" : `${tile.label}'s`} ${what}: ${words}`);
    const text = graded.grade ? `${capital(what)} ${describe(graded)}` : `${capital(what)}: no figures yet`;
    if (tip.textContent !== text) tip.textContent = text;
  }

  speaking(id) {
    return this.tiles.get(id)?.li.dataset.speaking === "true";
  }
}

function element(tag, className = "", text = "") {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text) el.textContent = text;
  return el;
}

function initials(name) {
  const words = name.trim().split(/\s+/).filter(Boolean);
  return (words.length > 1 ? words[0][0] + words[1][0] : (words[0] || "?").slice(0, 2)).toUpperCase();
}

function capital(text) {
  return text[0].toUpperCase() + text.slice(1);
}
