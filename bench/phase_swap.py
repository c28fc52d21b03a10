"""Where a codec loses DNSMOS: its decoded magnitude or its decoded phase.

Usage::

    python bench/phase_swap.py [--codec focal-800] [--compare codec2-700c] [--every 1]
                               [--json runs/phase-swap.json] [--earlier OLD.json]

Each dev-set clip is coded lossless through the streaming interface. Its STFT (40 ms Hann
window, 10 ms hop) and the reference's are then recombined: decoded magnitude with reference
phase, and reference magnitude with decoded phase. DNSMOS P.835 (signal, background, overall)
of each resynthesis says which half of the decoded spectrum costs the score. Two more rows
keep the decoded magnitude under a phase rebuilt from that magnitude alone (``bench/pghi.py``),
offline and frame-causal: what a phase post-processor could gain without the reference. Replaces the
section under :data:`HEADING` in BENCHMARKS.md; ``--earlier`` adds the rows of an earlier
``--json`` result (other weights, same clips) below the new ones.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from scipy.signal import istft, stft

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from codec.data.devset import ensure_devset  # noqa: E402
from codec.evaluation.harness import machine  # noqa: E402
from codec.evaluation.mos import DnsMos  # noqa: E402
from codec.neural.runtime import weights_description  # noqa: E402
from codec.registry import get_codec  # noqa: E402
from codec.roundtrip import roundtrip  # noqa: E402
from codec.wavio import read_wav  # noqa: E402
from mdsection import update_section  # noqa: E402
from pghi import HOP, WINDOW, rebuild  # noqa: E402

HEADING = "## What costs the neural codec its DNSMOS"
RATE = 16000
# The rows that depend on the codec's weights (an earlier result's are shown beside them).
DECODED = ("decoded", "decoded magnitude + reference phase", "reference magnitude + decoded phase",
           "decoded magnitude + PGHI phase", "decoded magnitude + PGHI phase, frame-causal")


def spectrum(audio: np.ndarray) -> np.ndarray:
    return stft(audio, RATE, nperseg=WINDOW, noverlap=WINDOW - HOP)[2]


def resynth(spec: np.ndarray, length: int) -> np.ndarray:
    return istft(spec, RATE, nperseg=WINDOW, noverlap=WINDOW - HOP)[1][:length].astype(np.float32)


def variants(ref: np.ndarray, decoded: np.ndarray) -> dict[str, np.ndarray]:
    """Reference, decoded, the two magnitude/phase recombinations and the two PGHI rebuilds."""
    a, b = spectrum(ref), spectrum(decoded)
    return {"reference": ref, DECODED[0]: decoded,
            DECODED[1]: resynth(np.abs(b) * np.exp(1j * np.angle(a)), len(ref)),
            DECODED[2]: resynth(np.abs(a) * np.exp(1j * np.angle(b)), len(ref)),
            DECODED[3]: rebuild(decoded), DECODED[4]: rebuild(decoded, causal=True)}


def run(codec_name: str, compare: list[str], every: int) -> dict:
    devset = ensure_devset()
    rows = [json.loads(line) for line in (devset / "manifest.jsonl").read_text().splitlines()][::every]
    mos = DnsMos()
    codec = get_codec(codec_name)
    scores: dict[str, list[dict[str, float]]] = {}
    for row in rows:
        pcm = read_wav(devset / row["path"], RATE)
        for name, audio in variants(pcm, roundtrip(codec, pcm, RATE)).items():
            scores.setdefault(name, []).append(mos.components(audio))
        for other in compare:
            scores.setdefault(other, []).append(mos.components(roundtrip(get_codec(other), pcm, RATE)))
    mean = {name: {k: float(np.mean([s[k] for s in per_clip])) for k in ("sig", "bak", "ovrl")}
            for name, per_clip in scores.items()}
    weights = weights_description() if codec_name.startswith("focal-") else ""
    return {"codec": codec_name, "weights": weights, "clips": len(rows), "mean": mean,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": machine()}


def markdown(result: dict, command: str, earlier: tuple[Path, dict] | None = None) -> str:
    lines = [f"`{command}` — {result['clips']} dev-set clips, {result['date']}, {result['machine']}.",
             "",
             f"DNSMOS P.835 of {result['codec']}'s lossless output and of two resyntheses from a "
             f"{WINDOW // 16} ms / {HOP // 16} ms STFT: the decoded magnitude with the reference's "
             "phase, and the reference's magnitude with the decoded phase; then the decoded "
             "magnitude with a phase rebuilt from it alone by phase-gradient heap integration "
             "(PGHI, `bench/pghi.py`), offline and frame-causal. A frame-causal rebuild at this "
             "window would add 30 ms (window minus hop) to the codec's 60 ms latency. On corpus-real's "
             "valid split the same rebuild lowers DNSMOS instead (next section)."
             + (f" Weights: {result['weights']}." if result["weights"] else ""),
             "",
             "| audio | SIG | BAK | OVRL |", "|---|---|---|---|"]
    for name, m in result["mean"].items():
        lines.append(f"| {name} | {m['sig']:.2f} | {m['bak']:.2f} | {m['ovrl']:.2f} |")
    if earlier is not None:
        path, old = earlier
        for name, m in old["mean"].items():
            if name not in DECODED:  # reference and compared codecs do not change with the weights
                continue
            lines.append(f"| {name}, earlier | {m['sig']:.2f} | {m['bak']:.2f} | {m['ovrl']:.2f} |")
        lines += ["", f"Earlier rows: `{path}` ({old['clips']} clips, {old['date']}), "
                      f"{old.get('weights') or 'other weights'}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--codec", default="focal-800")
    parser.add_argument("--compare", nargs="*", default=["codec2-700c"],
                        help="codecs whose plain decoded output is scored alongside")
    parser.add_argument("--every", type=int, default=1, help="use every N-th dev clip")
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument("--earlier", type=Path, metavar="OLD.json",
                        help="an earlier --json result to show below the new rows")
    parser.add_argument("--no-markdown", action="store_true", help="leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    if args.every < 1:
        parser.error("--every must be >= 1")
    earlier = (args.earlier, json.loads(args.earlier.read_text())) if args.earlier else None
    result = run(args.codec, args.compare, args.every)
    if earlier and earlier[1]["clips"] != result["clips"]:
        parser.error(f"{args.earlier} holds {earlier[1]['clips']} clips, this run {result['clips']}: "
                     "use the same --every")
    command = "python bench/phase_swap.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    text = markdown(result, command.strip(), earlier)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    if not args.no_markdown:
        update_section(ROOT / "BENCHMARKS.md", HEADING, text)


if __name__ == "__main__":
    main()
