// Browsers start an AudioContext only after a user gesture (Chromium's autoplay policy,
// Firefox's "block audible autoplay"); before that, resume() neither resolves nor fails. A
// page opened with ?autojoin=1 (or a join whose click is long past) would wait forever in
// silence, so this asks for the one click instead.

const GRACE_MS = 1500; // a context the browser allows starts well within this (Firefox on PulseAudio: ~1 s)

/** Resolves once `context` runs. If it does not start within a moment, `showPrompt()` is
 *  called and the next click on `button` (a gesture) starts it; `hidePrompt()` after. */
export async function ensureAudioRunning(context, { button, showPrompt, hidePrompt }) {
  if (context.state === "running") return;
  const started = context.resume().then(() => true, () => false);
  const inTime = await Promise.race([started, new Promise((done) => setTimeout(() => done(false), GRACE_MS))]);
  if (inTime && context.state === "running") return;
  showPrompt();
  await new Promise((done) => {
    const click = async () => {
      await context.resume().catch(() => {});
      if (context.state !== "running") return; // still refused: leave the prompt up
      button.removeEventListener("click", click);
      done();
    };
    button.addEventListener("click", click);
    context.addEventListener?.("statechange", function ran() {
      if (context.state !== "running") return;
      context.removeEventListener("statechange", ran);
      button.removeEventListener("click", click);
      done();
    });
  });
  hidePrompt();
}
