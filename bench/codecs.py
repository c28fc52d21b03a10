"""Baseline codec comparison on the dev set, written into BENCHMARKS.md.

Usage: ``python bench/codecs.py [--codec NAME ...] [--json runs/bench-codecs.json]``.
Runs ``focalcall codec eval``'s harness on every codec (default: Codec2 450/700C/1200/3200 and
Opus 6/8/12 kbit/s) and replaces the section under :data:`HEADING` in BENCHMARKS.md with the
table, the exact command, the date and the machine; other sections are left untouched.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from codec.data.devset import ensure_devset  # noqa: E402
from codec.evaluation import harness, report  # noqa: E402
from mdsection import update_section  # noqa: E402

BASELINES = ("codec2-450", "codec2-700c", "codec2-1200", "codec2-3200", "opus-6k", "opus-8k", "opus-12k")
HEADING = "## Baseline codecs on the dev set"
NOTES = """\
Dev set: real speech of speakers held out of training (Asterisk Allison, English, with
transcripts; Fillets Czech/Dutch roles), 16 kHz, levels normalized; built by
`focalcall data devset`. Every codec runs frame by frame through its streaming interface
(`codec.roundtrip.run_roundtrip`, the path of `focalcall codec roundtrip`); no packet loss.
PESQ-NB compares both signals resampled to 8 kHz. DNSMOS is the P.835 overall score. Speaker
similarity is the cosine of resemblyzer embeddings of decoded and clean speech. WER: Whisper
base (faster-whisper, int8, greedy) on the English clips, pooled over words; a clip whose
greedy transcript loops (a segment's text compresses better than 2.4:1) is transcribed again
with repeated 3-grams forbidden. The clean reference row shows the recognizer's own error.
kbit/s is the measured payload rate (codec frames only, no packet headers). RTF: compute time /
audio time on one thread (encode, decode), measured while other jobs shared the machine.
Codec2's decoders draw random phases (C `rand()`), so their output depends on what ran before
in the process; Codec2 450's row moved a little between two runs of this bench.

Against the baselines in NOTES (real speech, 11 clips): on the English clips STOI agrees
(Codec2 700C 0.74 vs 0.76, Opus 6k 0.91 vs 0.92, Opus 8k 0.96 vs 0.96). PESQ-NB here is
0.2-0.8 lower for every codec (the `pesq` package's P.862.1 MOS-LQO, on different material
than NOTES used), so compare codecs within this table, not with NOTES' PESQ. The Fillets clips (game dialogue,
Czech/Dutch) are harder for every codec and pull the pooled means down."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codec", action="append", help="codec (repeat); default: the baselines")
    parser.add_argument("--set", type=Path, default=None, dest="set_dir", help="evaluation set")
    parser.add_argument("--json", type=Path, default=ROOT / "runs" / "bench-codecs.json",
                        help="also write the full results here")
    parser.add_argument("--markdown", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--from-json", type=Path, default=None,
                        help="only re-render BENCHMARKS.md from results an earlier run saved")
    args = parser.parse_args(argv)
    note = lambda m: print(m, file=sys.stderr, flush=True)
    if args.from_json is not None:
        results = json.loads(args.from_json.read_text(encoding="utf-8"))
    else:
        config = harness.EvalConfig(codecs=tuple(args.codec or BASELINES),
                                    set_dir=ensure_devset(args.set_dir, note))
        results = harness.evaluate(config, progress=note)
        results["command"] = "python bench/codecs.py" + "".join(
            f" {shlex.quote(a)}" for a in (argv if argv is not None else sys.argv[1:]))
        report.write_json(results, args.json)
    print(report.table(results))
    update_section(args.markdown, HEADING, f"""\
Command: `{results.get('command', 'python bench/codecs.py')}`
Date: {results['date']} · Machine: {results['machine']} · {results['clips']} clips, \
{results['seconds']:.0f} s

{report.markdown(results)}

{report.loop_retries(results)}

By clip language (number of clips in brackets):

{report.by_language(results)}

{NOTES}
""")
    note(f"{args.markdown} updated; full results in {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
