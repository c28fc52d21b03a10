"""Call quality against packet loss, on the dev set, written into BENCHMARKS.md.

Usage: ``python bench/loss.py [--codec NAME ...] [--limit N]``. The dev-set clips, back to
back, go through :func:`callsim.cli.simulate_call` as one call (encode → packetize with the
default redundancy → netem-style impairment → jitter buffer → decode with concealment, receiver
reports adapting the redundancy) under each condition; each clip is then scored on its part.
"""
from __future__ import annotations

import argparse
import datetime
import shlex
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from codec.data.devset import ensure_devset  # noqa: E402
from codec.evaluation.harness import load_set, machine  # noqa: E402
from codec.evaluation.intrusive import Pesq, Stoi  # noqa: E402
from codec.evaluation.plcmos import PlcMos  # noqa: E402
from callsim.cli import simulate_call  # noqa: E402
from mdsection import update_section  # noqa: E402

HEADING = "## Call quality against packet loss"
# Gilbert-Elliott "loss gemodel p r": mean burst 1/r = 3 packets, stationary loss p/(p+r).
GAP_S = 0.3
SEED = 1
CONDITIONS = ("", "loss 5%", "loss 10%", "loss 20%", "loss 30%",
              "loss gemodel 3.7% 33.3%", "loss gemodel 8.3% 33.3%")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codec", action="append", default=None, help="codec (repeatable; default codec2-700c)")
    parser.add_argument("--limit", type=int, default=None, help="first N dev-set clips only")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    codecs = args.codec or ["codec2-700c"]
    clips = load_set(ensure_devset(), args.limit)
    pesq, stoi, plcmos = Pesq(), Stoi(), PlcMos()
    rows = []
    started = time.time()
    # The clips play back to back as one call (with a short pause between them), as a
    # conversation would: the jitter buffer and the redundancy adapt once, not per clip.
    gap = np.zeros(int(GAP_S * 16000), dtype=np.float32)
    bounds, parts, at = [], [], 0
    for _, pcm in clips:
        bounds.append((at, at + len(pcm)))
        parts += [pcm, gap]
        at += len(pcm) + len(gap)
    call = np.concatenate(parts)
    for name in codecs:
        for spec in CONDITIONS:
            r = simulate_call(call, name, spec, seed=SEED)
            scores: dict[str, list[float]] = {k: [] for k in ("stoi", "pesq_nb", "plcmos")}
            for (_, pcm), (a, b) in zip(clips, bounds):
                out = r.audio[a:b]
                scores["stoi"].append(stoi.score(pcm, out)["stoi"])
                nb = pesq.score(pcm, out)["pesq_nb"]
                if nb is not None:
                    scores["pesq_nb"].append(nb)
                scores["plcmos"].append(plcmos.score(None, out)["plcmos"])
            means = {k: float(np.mean(v)) for k, v in scores.items()}
            means.update(before=r.loss_before, after=r.loss_after, delay=r.playout_delay_ms, wire=r.wire_bps)
            rows.append((name, spec or "none", means))
            print(rows[-1], flush=True)
    table = ["| codec | netem | packet loss | residual frame loss | STOI | PESQ-NB | PLCMOS | jitter buffer | on the wire |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, spec, m in rows:
        table.append(f"| {name} | `{spec}` | {100 * m['before']:.1f} % | {100 * m['after']:.2f} % | "
                     f"{m['stoi']:.3f} | {m['pesq_nb']:.2f} | {m['plcmos']:.2f} | {m['delay']:.0f} ms | "
                     f"{m['wire'] / 1000:.1f} kbit/s |")
    command = "python bench/loss.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    body = "\n".join([
        f"`{command.strip()}` — {datetime.date.today()}, {machine()}, {len(clips)} dev-set clips, "
        f"{(time.time() - started) / 60:.0f} min.",
        "",
        "The dev-set clips play back to back as one call (0.3 s apart). Default sender settings: "
        "2 frames per packet, redundancy 160 ms (Codec2, focal) / 40 ms (Opus) adapted upwards by the "
        "receiver's reports, no parity; the jitter buffer adapts between one packet interval + 20 ms "
        "and 200 ms (mean shown). On the wire counts IPv4/UDP/DTLS/SCTP. Packet loss is what the impairment "
        "dropped; residual frame loss is frames concealed after redundancy and parity. STOI and "
        "PESQ-NB are against the clean input (so the lossless row shows the codec itself); PLCMOS v2 "
        "(speechmos) scores the output alone. Gilbert-Elliott rows have a mean burst of 3 packets.",
        "",
        *table])
    update_section(args.out, HEADING, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
