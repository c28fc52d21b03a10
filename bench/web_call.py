"""The browser call, measured in real headless Chromium and written into BENCHMARKS.md.

Usage: ``python bench/web_call.py [--input WAV] [--seconds S] [--weights DIR] [--out BENCHMARKS.md]``.
Two pages join one room on a loopback server; page A's fake microphone plays ``--input`` (any
WAV, looped; default espeak speech). Reported: the neural codec's encode and decode time per
20 ms frame inside the page (ONNX Runtime Web, WASM, one thread, in the codec worker),
mouth-to-ear delay from A's capture to B's playout (each frame's timestamp is the marker), the
time from page load to joined, and STOI of what B played against the input (each 0.5 s of the
playout aligned on its own: the playout legitimately inserts and drops frames), beside the
STOI of the codec alone (the input's offline round trip, no network, no browser).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from mdsection import update_section  # noqa: E402
from tests.test_web import CHROMIUM, FLAGS, SHIPPED, ServerThread, piecewise_stoi  # noqa: E402
from tests.utils import SENTENCES, espeak_wav  # noqa: E402

HEADING = "## Browser call (web/)"


def stats(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    return {"mean": float(a.mean()), "p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
            "n": int(a.size)}


def envelope(x: np.ndarray, hop: int = 160) -> np.ndarray:
    """Log energy in 10 ms steps (16 kHz), mean removed: a level contour to align on."""
    n = len(x) // hop
    e = np.log10(np.mean(x[:n * hop].reshape(n, hop) ** 2, axis=1) + 1e-7)
    return e - e.mean()


def acoustic_delay(tap_a: dict, tap_b: dict, rate: int, max_ms: float = 1500.0) -> float:
    """Mouth-to-ear from the audio itself: the lag that best aligns the level contour of what
    A captured with what B played, plus the difference of the taps' wall-clock start times.
    Independent of the frame timestamps; resolution 10 ms."""
    import base64

    from codec.resample import resample

    captured = np.frombuffer(base64.b64decode(tap_a["captured"]), "<f4")
    played = resample(np.frombuffer(base64.b64decode(tap_b["played"]), "<f4").astype(np.float32), rate, 16000)
    ea, eb = envelope(captured), envelope(played)
    start = tap_b["playedStart"] - tap_a["capturedStart"]  # ms: B's tap began this much later
    best, best_corr = 0, -np.inf
    for lag in range(0, int(max_ms / 10)):  # B frame j holds A frame j + shift - lag
        shift = int(round(start / 10))
        a0 = max(0, shift - lag)
        n = min(len(ea) - a0, len(eb) - max(0, lag - shift))
        if n < 100:
            continue
        a = ea[a0:a0 + n]
        b = eb[max(0, lag - shift):max(0, lag - shift) + n]
        corr = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))
        if corr > best_corr:
            best, best_corr = lag, corr
    return best * 10.0 + (start - 10 * round(start / 10))


def measure(weights: Path, seconds: float, settle: float, mic: Path) -> dict:
    from playwright.sync_api import sync_playwright

    server = ServerThread(weights)
    server.start()
    out: dict = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                         args=[*FLAGS, f"--use-file-for-fake-audio-capture={mic}"])
            pages = {}
            for name, options in (("b", "&listen=1"), ("a", "&processing=off")):
                page = browser.new_context(permissions=["microphone"]).new_page()
                page.goto(server.url + f"?room=bench&name={name}&autojoin=1{options}")
                page.wait_for_function("window.focalcall && window.focalcall.state === 'connected'", timeout=60000)
                pages[name] = page
            a, b = pages["a"], pages["b"]
            b.wait_for_timeout(settle * 1000)  # page A's start-up (WASM compile) stalls B's threads
            settled = time.time() * 1000
            a.evaluate("window.focalcall.startRecording()")
            b.evaluate("window.focalcall.startRecording()")
            b.wait_for_timeout(seconds * 1000)
            # Counters first: collecting the taps and marks below stalls both pages, and the
            # jitter buffer would report that stall instead of the measured stretch.
            debug = {n: p.evaluate("window.focalcall.debug") for n, p in pages.items()}
            tap_a = a.evaluate("window.focalcall.stopRecording()")
            tap_b = b.evaluate("window.focalcall.stopRecording()")
            out["acoustic_ms"] = acoustic_delay(tap_a, tap_b, b.evaluate("window.focalcall.sampleRate"))
            out["played_b"] = tap_b["played"]
            a_id = a.evaluate("window.focalcall.id")
            play = b.evaluate("window.focalcall.marks()")["play"]
            marks_a = a.evaluate("window.focalcall.marks()")
            marks_b = b.evaluate("window.focalcall.marks()")
            out["debug"] = debug
            out["latency"] = b.evaluate("window.focalcall.latency")
            out["rate"] = b.evaluate("window.focalcall.sampleRate")
            out["encode_ms"] = stats(marks_a["timing"]["encodeMs"])  # the last 500 frames
            out["decode_ms"] = stats(marks_b["timing"]["decodeMs"])
            out["dropped_capture_frames"] = out["debug"]["a"]["stats"]["droppedFrames"]
            capture = {ts: t for ts, t, _ in marks_a["capture"]}
            # A frame's capture mark is the end of its last sample; its play mark the start of
            # its first sample: one frame (20 ms) apart when delivered instantly.
            delays = [t - capture[ts] + 20.0 for ts, t in play if ts in capture and capture[ts] > settled]
            out["mouth_to_ear_ms"] = stats(delays)
            out["buffer"] = out["debug"]["b"]["stats"]["receivers"][str(a_id)]
            out["playout_queue"] = out["debug"]["b"]["playoutQueue"][str(a_id)]
            # The codec alone, one page, no call running: 250 frames encoded and decoded.
            a.context.close()
            b.context.close()
            solo = browser.new_context(permissions=["microphone"]).new_page()
            solo.goto(server.url)
            solo.wait_for_function("window.focalcall && window.focalcall.meta !== null", timeout=60000)
            clip = np.random.default_rng(0).standard_normal(320 * 250).astype("<f4") * 0.1
            import base64
            text = base64.b64encode(clip.tobytes()).decode()
            solo.evaluate("(x) => window.focalcall.roundtrip(x)", text)  # warm-up
            started = time.perf_counter()
            solo.evaluate("(x) => window.focalcall.roundtrip(x)", text)
            out["solo_codec_ms_per_frame"] = 1000 * (time.perf_counter() - started) / 250
            browser.close()
    finally:
        server.close()
    return out


def score(played_b64: str, rate: int, mic: Path, weights: Path) -> dict[str, float]:
    """STOI of B's playout against the microphone's input (looped), and of the codec alone: the
    input's offline focal-800 round trip against the input, and the playout against that."""
    import base64

    from pystoi import stoi

    from codec.neural.runtime import FocalCodec, NeuralModel
    from codec.resample import resample
    from codec.roundtrip import roundtrip
    from codec.wavio import read_wav

    played = resample(np.frombuffer(base64.b64decode(played_b64), "<f4").astype(np.float32), rate, 16000)
    clip = read_wav(mic, 16000)
    loops = int(np.ceil(len(played) / len(clip))) + 2
    offline = roundtrip(FocalCodec("focal-800", NeuralModel(weights)), clip, 16000)
    return {"playout_vs_input": piecewise_stoi(np.tile(clip, loops), played),
            "codec_alone": float(stoi(clip, offline[:len(clip)], 16000)),
            "playout_vs_offline": piecewise_stoi(np.tile(offline, loops), played)}


def report(r: dict, weights: Path, seconds: float, settle: float, command: str) -> str:
    meta = json.loads((weights / "focal.json").read_text())
    d = {n: r["debug"][n] for n in ("a", "b")}
    load = {n: {"codec": x["codecReadyAt"] - x["loadStart"], "joined": x["joinedAt"] - x["loadStart"],
                "open": x["audioOpenAt"] - x["loadStart"]} for n, x in d.items()}
    e, dec, m, buf = r["encode_ms"], r["decode_ms"], r["mouth_to_ear_ms"], r["buffer"]
    lat = r["latency"] or {}
    out_ms = 1000 * (lat.get("output") or 0)
    lines = [
        f"Command: `{command}` — {datetime.date.today().isoformat()}, {platform.machine()}, "
        f"{os.cpu_count()} cores shared with other jobs (load average {os.getloadavg()[0]:.1f} at the end), "
        f"Debian Chromium headless (fake audio devices, context at {r['rate']} Hz), onnxruntime-web 1.30 WASM "
        f"(1 thread, in a Worker). Model: `{weights.relative_to(ROOT) if weights.is_relative_to(ROOT) else weights}` "
        f"(training step {meta.get('training_step')}, {meta['macs_per_frame']['total'] / 1e6:.1f} M MAC/frame). "
        f"Both pages share one browser and the same cores; page B listens only; figures from the "
        f"{seconds:g} s after the first {settle:g} s of the call.",
        "",
        "| What | mean | p50 | p95 |",
        "|---|---|---|---|",
        f"| Encode, per 20 ms frame (page A, during the call) | {e['mean']:.2f} ms | {e['p50']:.2f} ms | {e['p95']:.2f} ms |",
        f"| Decode, per 20 ms frame (page B, during the call) | {dec['mean']:.2f} ms | {dec['p50']:.2f} ms | {dec['p95']:.2f} ms |",
        f"| Mouth-to-ear, A's capture worklet → B's playout worklet | {m['mean']:.0f} ms | {m['p50']:.0f} ms | {m['p95']:.0f} ms |",
        "",
        f"- Mouth-to-ear from the audio alone (level contour of A's capture tap aligned with B's "
        f"playout tap, 10 ms steps): {r['acoustic_ms']:.0f} ms — a cross-check of the timestamp markers.",
        "",
        f"- Speech: {r['input']}. STOI of B's playout against it {r['stoi']['playout_vs_input']:.3f}; "
        f"the codec alone (offline round trip of the input) {r['stoi']['codec_alone']:.3f}; B's playout "
        f"against that offline round trip {r['stoi']['playout_vs_offline']:.3f} (what the browser path, "
        "network and playout add to the codec; each 0.5 s of playout aligned on its own).",
        "",
        "- The fixed part of the delay is about 140 ms: 60 ms algorithmic, 20 ms for the second "
        "frame of each packet, 40 ms of decoded frames queued at playout, decode and resampling. "
        "The rest is the jitter buffer and the playout queue, which both keep more in hand after "
        "other jobs starve the pages of CPU (a stalled worker or sender): robustness bought with "
        "delay, given back over the following seconds.",
        f"- Encode + decode of one frame, one page alone (no call, 250 frames after a warm-up): "
        f"{r['solo_codec_ms_per_frame']:.2f} ms.",
        f"- Mouth-to-ear marker: every captured frame's packet timestamp; A records when its last sample "
        f"left the capture worklet, B when the first sample of the decoded frame with that timestamp "
        f"entered its output (both on the wall clock). Includes the 60 ms algorithmic latency "
        f"(20 ms frame + 40 ms codec delay), 2-frame packets (+20 ms), the jitter buffer (at the end of "
        f"the measured stretch B's frames had waited {buf['bufferDelayMs']:.0f} ms on average over "
        f"the last 50, target {buf['targetDelayMs']:.0f} ms; since the call began {buf['underruns']} underruns, "
        f"{buf['framesDropped']} frames skipped to follow the playout clock; page A skipped "
        f"{r['dropped_capture_frames']} captured frames when its worker fell behind) and the playout queue "
        f"(2 decoded frames, more after worker stalls: it ran dry {r['playout_queue'][0]} times, gave "
        f"back {r['playout_queue'][2]} quiet frames, had a backlog trimmed {r['playout_queue'][1]} times, and "
        f"held {r['playout_queue'][3] / 16:.0f} ms at the end); "
        f"not the devices: the browser reports {out_ms:.0f} ms output latency on top (fake device here), "
        f"capture latency is not reported.",
        f"- Page load → codec ready → joined → audio channel open: "
        + "; ".join(f"page {n.upper()} {v['codec']:.0f} / {v['joined']:.0f} / {v['open']:.0f} ms"
                    for n, v in load.items())
        + " (with `?autojoin=1`: the join starts as soon as the codec is ready; loading the ONNX files "
          "and compiling the WASM dominate).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the call (default 20)")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds ignored after both joined (default 5)")
    parser.add_argument("--weights", type=Path, default=SHIPPED, help="directory with focal.json and the ONNX files")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--input", type=Path, help="WAV for page A's microphone, any rate and channels, looped "
                                                   "(default: espeak-ng speech after a second of silence)")
    args = parser.parse_args(argv)
    if not (args.weights / "focal.json").exists():
        parser.error(f"{args.weights} has no focal.json (export the codec first)")
    with tempfile.TemporaryDirectory() as tmp:
        from codec.wavio import AudioFileError, read_wav, write_wav

        if args.input is None:
            speech = read_wav(espeak_wav(Path(tmp) / "speech.wav", " ".join(SENTENCES)), 16000)
            speech = np.concatenate([np.zeros(16000, np.float32), speech])
        else:
            try:
                speech = read_wav(args.input, 16000)
            except AudioFileError as exc:
                parser.error(f"--input: {exc}")
            if len(speech) < 3 * 16000:
                parser.error(f"--input {args.input}: {len(speech) / 16000:.1f} s is too short to score (need 3 s)")
        mic = Path(tmp) / "mic.wav"
        write_wav(mic, speech, 16000)
        result = measure(args.weights, args.seconds, args.settle, mic)
        result["stoi"] = score(result.pop("played_b"), result["rate"], mic, args.weights)
        result["input"] = (f"`{args.input.name}` ({len(speech) / 16000:.1f} s, looped)" if args.input
                           else f"espeak-ng, {len(speech) / 16000:.1f} s, looped")
    command = "python bench/web_call.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    body = report(result, args.weights, args.seconds, args.settle, command.strip())
    print(body)
    update_section(args.out, HEADING, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
