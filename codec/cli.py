"""``focalcall codec``: list the codecs, or run one over a WAV file."""
from __future__ import annotations

import argparse

from codec.base import CodecError
from codec.evaluation.cli import register_eval
from codec.neural.cli import register_train
from codec.neural.concealer_cli import register_concealer
from codec.registry import codec_names, get_codec


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``codec list`` and ``codec roundtrip``."""
    p = subparsers.add_parser("codec", help="codec tools (list, roundtrip, eval, train, export)",
                              description="Inspect the speech codecs and try them on WAV files.")
    sub = p.add_subparsers(dest="codec_command", metavar="CODEC_COMMAND", required=True)

    ls = sub.add_parser("list", help="table of the available codecs",
                        description="Print name, sample rate, frame length, bit rate and "
                                    "algorithmic latency of every codec.")
    ls.set_defaults(func=run_list)

    rt = sub.add_parser("roundtrip", help="encode and decode a WAV file with one codec",
                        description="Encode IN.wav frame by frame with CODEC, decode it as a call "
                                    "would, and write the result (16 kHz, 16-bit mono) to OUT.wav.")
    rt.add_argument("--codec", required=True, metavar="NAME",
                    help="codec name (see 'focalcall codec list')")
    rt.add_argument("input", metavar="IN.wav", help="any WAV file (any rate, channels, format)")
    rt.add_argument("output", metavar="OUT.wav", help="where to write the decoded speech")
    rt.set_defaults(func=run_roundtrip_command)
    register_eval(sub)
    register_train(sub)
    register_concealer(sub)


def run_list(args: argparse.Namespace) -> int:
    print(f"{'name':<14} {'rate Hz':>7} {'frame ms':>8} {'bit/s':>7} {'latency ms':>10}")
    for name in codec_names():
        try:
            c = get_codec(name)
        except CodecError as exc:  # e.g. a library missing on this machine
            print(f"{name:<14} unavailable: {exc}")
            continue
        print(f"{c.name:<14} {c.sample_rate:>7} {c.frame_ms:>8g} {c.bitrate:>7g} "
              f"{c.algorithmic_latency_ms:>10.1f}")
    return 0


def run_roundtrip_command(args: argparse.Namespace) -> int:
    # Imported here: scipy.signal takes a second to import, which every other
    # ``focalcall`` command would pay for otherwise.
    from codec.roundtrip import OUTPUT_RATE, run_roundtrip
    from codec.wavio import read_wav, write_wav

    codec = get_codec(args.codec)
    pcm = read_wav(args.input, OUTPUT_RATE)
    result = run_roundtrip(codec, pcm, OUTPUT_RATE)
    write_wav(args.output, result.pcm, OUTPUT_RATE)
    print(f"{codec.name}: {len(result.payloads)} frames, payload {result.payload_bitrate:.0f} bit/s, "
          f"algorithmic latency {codec.algorithmic_latency_ms:.1f} ms -> {args.output}")
    return 0
