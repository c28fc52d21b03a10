// Keyboard shortcuts in a call: M mutes and unmutes; with push-to-talk on, the microphone is
// open only while Space is held (unless a focused control takes the Space to be pressed). Keys
// typed into a text field or a list are left alone.

const TYPING = new Set(["INPUT", "TEXTAREA", "SELECT"]);
const PRESSABLE = "button, a[href], summary, input, select, textarea, [role=button]";

function typing(event) {
  const el = event.target;
  return Boolean(el && (TYPING.has(el.tagName) && el.type !== "checkbox" || el.isContentEditable));
}

// Space on a focused control presses it (keyboard users rely on that): push-to-talk then waits.
function pressing(event) {
  return Boolean(event.target?.closest?.(PRESSABLE));
}

/** `active()`: whether a call is on; `toggleMute()`; `talk(bool)` for push-to-talk;
 *  `pushToTalk()`: whether push-to-talk is on. */
export function installShortcuts({ active, toggleMute, talk, pushToTalk }) {
  let holding = false;
  const release = () => {
    if (!holding) return;
    holding = false;
    talk(false);
  };
  const down = (event) => {
    if (!active() || typing(event) || event.ctrlKey || event.metaKey || event.altKey) return;
    if ((event.key === "m" || event.key === "M") && !event.repeat) {
      event.preventDefault();
      toggleMute();
    } else if (event.code === "Space" && pushToTalk() && !pressing(event)) {
      event.preventDefault(); // not a click on the focused button
      if (!holding) {
        holding = true;
        talk(true);
      }
    }
  };
  const up = (event) => {
    if (event.code === "Space" && holding) {
      event.preventDefault();
      release();
    }
  };
  addEventListener("keydown", down);
  addEventListener("keyup", up);
  addEventListener("blur", release); // a key released in another window never comes back here
}
