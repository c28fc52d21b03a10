"""The neural codec on the dev set, against the baselines, plus the distillation ablation.

Usage::

    python bench/neural.py [--baselines-from runs/bench-codecs.json]
                           [--ablation TEACHER.json NO_TEACHER.json] [--json runs/bench-neural.json]

Evaluates focal-800/600/400 (the shipped weights, or ``$FOCALCALL_NEURAL_WEIGHTS``) with
``focalcall codec eval``'s harness. Baseline rows (Codec2 700C/1200/3200, Opus 6k) are evaluated
too, or taken from an earlier ``bench/codecs.py`` result on the same set and metrics. The
ablation rows come from two ``focalcall codec eval --out`` results of the runs being compared.
Replaces the section under :data:`HEADING` in BENCHMARKS.md.
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
from codec.evaluation.paired import paired_difference  # noqa: E402
from codec.neural.runtime import weights_description, weights_dir  # noqa: E402
from mdsection import update_section  # noqa: E402

FOCAL = ("focal-800", "focal-600", "focal-400")
BASELINES = ("codec2-450", "codec2-700c", "codec2-1200", "codec2-3200", "opus-6k")
HEADING = "## Neural codec on the dev set"
NOTES = """\
Metrics, dev set and harness as in "Baseline codecs on the dev set" (lossless, frame by frame
through the streaming interface, onnxruntime on one thread). kbit/s is the measured payload rate:
focal-600 packs two 12-bit codes into 3 bytes per 40 ms frame, hence its 80 ms latency. The dev
set's speakers are in no training corpus, and no synthesis text quotes its English prompts. The
issue's bar: focal-800 above Codec2 700C on PESQ-NB, STOI, DNSMOS and DistillMOS with intervals
above zero and a WER at most Codec2 1200's; focal-400 above Codec2 450 on the same four."""


def merge_baselines(results: dict, earlier: dict) -> dict:
    """``results`` with the baseline rows of ``earlier`` (same clips and metrics) appended."""
    if earlier["set"] != results["set"] or earlier["metrics"] != results["metrics"]:
        raise ValueError("the baseline results were computed on another set or with other metrics")
    missing = [name for name in BASELINES if name not in earlier["codecs"]]
    if missing:
        raise ValueError(f"the baseline results lack {', '.join(missing)}")
    results["codecs"].update({name: earlier["codecs"][name] for name in BASELINES})
    results["baselines_date"] = earlier["date"]
    return results


BAR = (("pesq_nb", "PESQ-NB", 1.0, "{:+.2f}", "higher"), ("stoi", "STOI", 1.0, "{:+.3f}", "higher"),
       ("dnsmos", "DNSMOS", 1.0, "{:+.2f}", "higher"), ("distillmos", "DistillMOS", 1.0, "{:+.2f}", "higher"),
       ("plcmos", "PLCMOS", 1.0, "{:+.2f}", "higher"), ("speaker_sim", "speaker similarity", 1.0, "{:+.3f}", "higher"),
       ("wer", "WER (points)", 100.0, "{:+.1f}", "lower"))
# (ours, theirs) pairs the bar compares
PAIRS = (("focal-800", "codec2-700c"), ("focal-800", "codec2-1200"), ("focal-400", "codec2-450"))


def bar_table(results: dict, ours: str = "focal-800", theirs: str = "codec2-700c") -> str:
    """Markdown: ``ours − theirs`` on the bar's metrics, each with a 95 % paired-bootstrap interval."""
    lines = [f"| metric | {ours} − {theirs} | 95 % interval | better is | clips |",
             "| --- | ---: | ---: | --- | ---: |"]
    for key, name, scale, fmt, better in BAR:
        d = paired_difference(results["codecs"][ours]["clips"], results["codecs"][theirs]["clips"], key)
        if d is None:
            continue
        cells = [fmt.format(scale * v) for v in (d.difference, d.low, d.high)]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} … {cells[2]} | {better} | {d.clips} |")
    return "\n".join(lines)


def ablation_table(with_teacher: dict, without: dict) -> str:
    """Markdown: focal-800 of the two runs, overall and by language."""
    both = dict(with_teacher, codecs={"focal-800, with teacher": with_teacher["codecs"]["focal-800"],
                                      "focal-800, no teacher": without["codecs"]["focal-800"]})
    both.pop("reference", None)
    return report.markdown(both) + "\n\n" + report.by_language(both)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, default=None, dest="set_dir", help="evaluation set")
    parser.add_argument("--baselines-from", type=Path, default=None, metavar="JSON",
                        help="take the baseline rows from this bench/codecs.py result")
    parser.add_argument("--ablation", type=Path, nargs=2, default=None, metavar=("TEACHER", "NO_TEACHER"),
                        help="focalcall codec eval results of the runs with and without the teacher")
    parser.add_argument("--json", type=Path, default=ROOT / "runs" / "bench-neural.json")
    parser.add_argument("--markdown", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    note = lambda msg: print(msg, file=sys.stderr)

    earlier = json.loads(args.baselines_from.read_text()) if args.baselines_from else None
    codecs = FOCAL if earlier else FOCAL + BASELINES
    results = harness.evaluate(harness.EvalConfig(codecs=codecs, set_dir=ensure_devset(args.set_dir, note)),
                               progress=note)
    if earlier:
        results = merge_baselines(results, earlier)
    results["command"] = "python bench/neural.py" + "".join(
        f" {shlex.quote(a)}" for a in (argv if argv is not None else sys.argv[1:]))
    report.write_json(results, args.json)
    print(report.table(results))
    baselines = (f"Baseline rows from `bench/codecs.py` ({results['baselines_date']}), same clips and "
                 "metrics." if earlier else "")
    weights = weights_dir()
    ablation = ""
    if args.ablation:
        with_teacher, without = (json.loads(p.read_text()) for p in args.ablation)
        ablation = (f"### Distillation ablation\n\nSame student, data and step count (see the runs' configs), with and without "
                    f"the Whisper-base teacher (`{args.ablation[0]}`, `{args.ablation[1]}`):\n\n"
                    f"{ablation_table(with_teacher, without)}\n")
    update_section(args.markdown, HEADING, f"""\
Command: `{results['command']}`
Date: {results['date']} · Machine: {results['machine']} · {results['clips']} clips, \
{results['seconds']:.0f} s. {baselines}
Weights: `{weights.relative_to(ROOT) if weights.is_relative_to(ROOT) else weights}`, {weights_description(weights)}.

{report.markdown(results)}

{report.loop_retries(results)}

The bar's metrics, paired clip by clip (bootstrap over clips, 2000 resamples; WER pooled
over words in each resample). An interval that spans zero is a difference this set cannot
resolve:

{chr(10).join(bar_table(results, ours, theirs) + chr(10) for ours, theirs in PAIRS)}

By clip language (en: Asterisk Allison, 37 clips with WER; cs/nl: Fillets):

{report.by_language(results)}

{ablation}
{NOTES}
""")
    note(f"{args.markdown} updated; full results in {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
