"""The call page's layout, checked and photographed: no control off screen, overlapping another
or with clipped text, touch targets of a usable size; the screenshots of web/README.md
(``scripts/web_screenshots.py``) come from the same call as the layout test."""
from __future__ import annotations

import time
from pathlib import Path

from tests.test_web import wait_connected

VIEWPORTS = {"phone": (390, 844), "desktop": (1280, 800)}

# Returns a list of problems (strings) for the page as it is laid out now.
LAYOUT_CHECK = """() => {
  const problems = [];
  const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth > width + 1) {
    problems.push(`the page scrolls sideways (${document.documentElement.scrollWidth} > ${width} px)`);
  }
  const shown = (el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== "hidden"
      && el.closest("[hidden]") === null;
  };
  const describe = (el) => el.id ? `#${el.id}` : `${el.tagName.toLowerCase()}.${String(el.className).split(" ")[0]}`
    + `("${(el.textContent || el.getAttribute("aria-label") || "").trim().slice(0, 24)}")`;
  const controls = [...document.querySelectorAll("button, input, select, a, summary, meter, canvas")].filter(shown);
  for (const el of controls) {
    const r = el.getBoundingClientRect();
    if (r.left < -0.5 || r.right > width + 0.5) {
      problems.push(`${describe(el)} leaves the screen (${r.left}..${r.right})`);
    }
    const interactive = el.matches("button, select, summary, input:not([type=checkbox])");
    if (interactive && r.height < 40) problems.push(`${describe(el)} is ${r.height.toFixed(0)} px high (< 40)`);
  }
  for (let i = 0; i < controls.length; i++) {
    for (let j = i + 1; j < controls.length; j++) {
      const [a, b] = [controls[i], controls[j]];
      if (a.contains(b) || b.contains(a)) continue;
      const p = a.getBoundingClientRect();
      const q = b.getBoundingClientRect();
      const w = Math.min(p.right, q.right) - Math.max(p.left, q.left);
      const h = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
      if (w > 1 && h > 1) problems.push(`${describe(a)} overlaps ${describe(b)}`);
    }
  }
  const texts = [...document.querySelectorAll(
    "button, summary, label, h1, h2, h3, .state, .who, .peer-state, dd, figcaption")];
  for (const el of texts.filter(shown)) {
    const style = getComputedStyle(el);
    const clipped = el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1;
    if (clipped && style.textOverflow === "ellipsis" && el.title) continue; // shortened, full text in the title
    if (clipped && style.overflow !== "visible") problems.push(`${describe(el)} clips its text`);
  }
  return problems;
}"""


def layout_problems(page) -> list[str]:
    """Everything wrong with the layout of ``page`` at its current viewport."""
    return page.evaluate(LAYOUT_CHECK)


def _shoot(page, name: str, out_dir: Path) -> dict[str, tuple[list[str], Path]]:
    found = {}
    for size, (width, height) in VIEWPORTS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(400)  # plots redraw at the next sample
        path = out_dir / f"{name}-{size}.png"
        page.screenshot(path=str(path), full_page=True)
        found[f"{name}-{size}"] = (layout_problems(page), path)
    return found


def call_screens(browser, url: str, out_dir: Path, settle_s: float = 8.0) -> dict[str, tuple[list[str], Path]]:
    """A call of three in ``browser`` (whose fake microphone plays speech) on the server at
    ``url``: Ann talks, Bo has muted himself, a listener with a long name listens. Returns
    {"join-phone": (problems, png path), "call-phone": …, and the desktop ones}, shot from
    an invitee's join form and from Bo's page."""
    out_dir.mkdir(parents=True, exist_ok=True)
    contexts = []

    def page_for(query: str):
        context = browser.new_context(permissions=["microphone"], device_scale_factor=1)
        contexts.append(context)
        page = context.new_page()
        page.goto(url + query)
        return page

    try:
        ann = page_for("?room=standup&name=Ann%20Lee&autojoin=1&processing=off")
        bo = page_for("?room=standup&name=Bo&autojoin=1&processing=off")
        page_for("?room=standup&name=Christopher%20Montgomery-Smith&autojoin=1&listen=1")
        for page in (ann, bo):
            wait_connected(page, timeout=60)
        bo.keyboard.press("m")
        bo.wait_for_function("document.querySelectorAll('#tiles li').length === 3", timeout=20000)
        time.sleep(settle_s)  # plots and quality grades fill in
        bo.evaluate("document.getElementById('settings').open = true")
        screens = _shoot(bo, "call", out_dir)
        guest = page_for("?room=standup")
        guest.wait_for_function("window.focalcall && window.focalcall.state === 'idle'", timeout=60000)
        guest.fill("#name", "Dee")
        screens.update(_shoot(guest, "join", out_dir))
        return screens
    finally:
        for context in contexts:
            context.close()
