"""``focalcall data build`` (training corpus) and ``focalcall data devset`` (evaluation set)."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from codec.data.layout import DEVSET_DIR, SOURCES


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``data`` command group."""
    data = subparsers.add_parser("data", help="build the training corpus and the dev set")
    sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)

    build = sub.add_parser("build", help="build (or resume) a 16 kHz training corpus",
                           description="Synthetic (Kokoro, Piper) and real (Asterisk, Fillets) "
                           "speech with a manifest; rerun the same command to resume.")
    build.add_argument("--out", type=Path, required=True, help="corpus directory")
    build.add_argument("--hours", type=float, required=True, help="hours of audio to reach")
    build.add_argument("--seed", type=int, default=0, help="seed of the job stream (default 0)")
    build.add_argument("--sources", default=",".join(SOURCES),
                       help=f"comma-separated subset of {','.join(SOURCES)}")
    build.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                       help="worker processes (default: 2, one per core)")
    build.add_argument("--real-fraction", type=float, default=0.4,
                       help="share of real speech in the audio while it lasts (default 0.4)")
    build.add_argument("--kokoro-languages", default=None, metavar="LANGS",
                       help="only Kokoro voices of these languages, comma-separated (e.g. en); "
                            "default: every voice")
    build.add_argument("--blends", type=int, default=24,
                       help="two-voice Kokoro blends among the training voices (default 24)")
    build.add_argument("--voice-shifts", type=int, default=0, metavar="N",
                       help="pitch-and-formant shifted copies of every synthetic voice (default 0)")
    build.add_argument("--no-augment", action="store_true", help="store no augmentation recipes")
    build.add_argument("--no-progress", action="store_true", help="no progress bar")
    build.set_defaults(func=_guarded(_build))

    dev = sub.add_parser("devset", help="build the dev evaluation set (held-out real speakers)")
    dev.add_argument("--out", type=Path, default=DEVSET_DIR,
                     help=f"directory (default {DEVSET_DIR})")
    dev.set_defaults(func=_guarded(_devset))


def _guarded(command):
    """Missing tools or packages are one-line errors (exit 2), not tracebacks."""
    def run(args: argparse.Namespace) -> int:
        # Imported here: the builders load scipy (~1 s), which no other command needs.
        from codec.data.debs import PackageFetchError
        from codec.data.synth import SynthesisUnavailable
        try:
            return command(args)
        except (PackageFetchError, SynthesisUnavailable) as exc:
            print(f"focalcall data: error: {exc}", file=sys.stderr)
            return 2
    return run


def _kokoro_voices(languages: str | None) -> tuple[str, ...] | None:
    """The Kokoro voices speaking one of ``languages`` (comma-separated), or None for all."""
    if languages is None:
        return None
    from codec.data import synth

    wanted = {lang.strip() for lang in languages.split(",") if lang.strip()}
    known = set(synth.VOICE_LANGUAGES.values())
    if not wanted or wanted - known:
        raise ValueError(f"--kokoro-languages {languages!r}: choose from {', '.join(sorted(known))}")
    return tuple(v for v in synth.kokoro_voices() if synth.voice_language(v) in wanted)


def _build(args: argparse.Namespace) -> int:
    from codec.data import builder
    config = builder.BuildConfig(
        out=args.out, hours=args.hours, seed=args.seed,
        sources=tuple(s.strip() for s in args.sources.split(",") if s.strip()),
        workers=args.workers, real_fraction=args.real_fraction,
        kokoro_voices=_kokoro_voices(args.kokoro_languages), blends=args.blends,
        voice_shifts=args.voice_shifts,
        augment=not args.no_augment, progress=not args.no_progress)
    entries = builder.build(config)
    hours = sum(e.duration for e in entries) / 3600
    speakers = {e.speaker for e in entries}
    print(f"{args.out}: {len(entries)} clips, {hours:.2f} h, {len(speakers)} speakers")
    return 0


def _devset(args: argparse.Namespace) -> int:
    from codec.data import devset
    entries = devset.build_devset(args.out)
    print(f"{args.out}: {len(entries)} clips, {sum(e.duration for e in entries):.0f} s")
    return 0
