"""Quick look at a codec on held-out clips: PESQ-NB, STOI and the encode+decode real-time factor.

Not the project's evaluation (that is ``codec/evaluation``, on the dev set): a sanity check for
training sessions. Clips come from a corpus manifest's ``valid`` split, never reserved audio.

    python scripts/neural_quick_eval.py MANIFEST [--clips N] [--codecs focal-800,codec2-700c]
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from codec.registry import get_codec  # noqa: E402
from codec.resample import resample  # noqa: E402
from codec.roundtrip import run_roundtrip  # noqa: E402
from codec.neural.dataset import load_clip, read_manifest  # noqa: E402


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest")
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--min-seconds", type=float, default=2.0)
    parser.add_argument("--codecs", default="focal-800,focal-600,focal-400,codec2-700c")
    args = parser.parse_args()
    from pesq import pesq
    from pystoi import stoi

    root, rows = read_manifest(args.manifest, "valid")
    rows = [r for r in rows if r.get("duration", 0) >= args.min_seconds][: args.clips]
    clips = [load_clip(root / r["path"]) for r in rows]
    seconds = sum(len(c) for c in clips) / 16000
    print(f"{len(clips)} clips, {seconds:.1f} s")
    print(f"{'codec':<12} {'PESQ-NB':>8} {'STOI':>6} {'CPU RTF':>8}")
    for name in args.codecs.split(","):
        codec = get_codec(name)
        scores_p, scores_s = [], []
        cpu = 0.0
        for clip in clips:
            t0 = cpu_seconds()
            out = run_roundtrip(codec, clip, 16000).pcm
            cpu += cpu_seconds() - t0
            ref8, out8 = resample(clip, 16000, 8000), resample(out, 16000, 8000)
            try:
                scores_p.append(pesq(8000, ref8, out8, "nb"))
            except Exception as exc:  # pesq raises on e.g. silent output
                print(f"  pesq failed on a clip: {exc}")
            scores_s.append(stoi(clip, out, 16000, extended=False))
        print(f"{name:<12} {np.mean(scores_p):>8.2f} {np.mean(scores_s):>6.3f} "
              f"{cpu / seconds:>8.3f}", flush=True)
    return 0


if __name__ == "__main__":
    started = time.time()
    status = main()
    print(f"({time.time() - started:.0f} s)")
    sys.exit(status)
