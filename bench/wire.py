"""On-wire bitrate of a call, both directions, every header, written into BENCHMARKS.md.

Usage: ``python bench/wire.py [--codec NAME ...] [--limit N]``. A conversation-like input
(dev-set clips as one side's turns, each followed by as much silence while the other side
talks, 0.5 s gaps, room noise at -60 dBFS throughout) is encoded once per codec; its frames
are then packed as a call packs them (transport.Packetizer, the codec's default redundancy,
with and without DTX) at each packet size, and under ``--max-bitrate`` caps as the sender's
packet-size policy (transport.packetsize) chooses. Every message is costed on the wire by
transport.wire: IPv4 20 + UDP 8 + DTLS 37 + SCTP 12 + DATA 16 bytes plus padding forward,
and a 93-byte SACK back per packet (aiortc) or per two (delayed SACKs).
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

from client.call import default_redundancy  # noqa: E402
from codec.data.devset import ensure_devset  # noqa: E402
from codec.evaluation.harness import load_set, machine  # noqa: E402
from codec.payload_types import payload_type  # noqa: E402
from codec.registry import get_codec  # noqa: E402
from codec.resample import resample  # noqa: E402
from codec.vad import Vad  # noqa: E402
from mdsection import update_section  # noqa: E402
from transport import DtxConfig, Packetizer, PacketizerConfig  # noqa: E402
from transport.packet import VERSION_3, max_primary  # noqa: E402
from transport.packetsize import PacketSizer, SizeConfig, most_frames  # noqa: E402
from transport.wire import WireModel  # noqa: E402

HEADING = "## On the wire: packet size and DTX (bench/wire.py)"
GAP_S = 0.5
NOISE_DBFS = -60.0
CAPS = (16000.0, 12000.0)
SIZES = range(1, max_primary(VERSION_3) + 1)


def conversation(clips: list[np.ndarray], seed: int = 0) -> np.ndarray:
    """One side of a conversation: each clip, a gap, the other side's turn (silence), a gap."""
    parts = []
    for pcm in clips:
        quiet = np.zeros(int(GAP_S * 16000), np.float32)
        parts += [pcm, quiet, np.zeros(len(pcm), np.float32), quiet]
    out = np.concatenate(parts)
    return out + 10 ** (NOISE_DBFS / 20) * np.random.default_rng(seed).standard_normal(len(out)).astype(np.float32)


def encode(codec_name: str, pcm16k: np.ndarray) -> tuple[list[bytes], list[bool], list[int]]:
    """The codec's frames, the VAD's verdicts and the background levels, frame by frame."""
    codec = get_codec(codec_name)
    pcm = resample(pcm16k, 16000, codec.sample_rate).astype(np.float32)
    n = codec.frame_samples
    frames = pcm[: len(pcm) // n * n].reshape(-1, n)
    encoder, vad = codec.encoder(), Vad()
    payloads, speech, levels = [], [], []
    for frame in frames:
        payloads.append(encoder.encode(frame))
        speech.append(vad.update(frame))
        levels.append(vad.background_level)
    return payloads, speech, levels


def pack(codec_name: str, payloads: list[bytes], speech: list[bool], levels: list[int], frames_per_packet: int,
         redundancy: int, dtx: bool) -> list[int]:
    """Message sizes of the stream packed this way."""
    pk = Packetizer(PacketizerConfig(payload_type(codec_name), frames_per_packet=frames_per_packet,
                                     redundancy=redundancy, version=VERSION_3, dtx=DtxConfig() if dtx else None))
    sizes = []
    for payload, s, level in zip(payloads, speech, levels):
        sizes += [len(p) for p in pk.push(payload, speech=s, level=level)]
    sizes += [len(p) for p in pk.flush()]
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codec", action="append", default=None,
                        help="codec (repeatable; default focal-800, codec2-700c, opus-6k)")
    parser.add_argument("--limit", type=int, default=20, help="first N dev-set clips (default 20)")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    codecs = args.codec or ["focal-800", "codec2-700c", "opus-6k"]
    started = time.time()
    clips = [pcm for _, pcm in load_set(ensure_devset(), args.limit)]
    pcm = conversation(clips)
    seconds_in = len(pcm) / 16000
    aiortc, delayed = WireModel(1), WireModel(2)
    rows = []
    for name in codecs:
        codec = get_codec(name)
        payloads, speech, levels = encode(name, pcm)
        seconds = len(payloads) * codec.frame_ms / 1000
        redundancy = default_redundancy(codec)
        frame_bytes = float(np.mean([len(p) for p in payloads]))
        plans = [(f"{n} ({n * codec.frame_ms:.0f} ms)", n, redundancy) for n in SIZES]
        for cap in CAPS:
            sizer = PacketSizer(SizeConfig(frame_ms=codec.frame_ms, max_bitrate=cap, most=most_frames(codec.frame_ms)))
            n, r = sizer.plan(frame_bytes, redundancy)
            plans.append((f"`--max-bitrate {cap:.0f}`: {n}, R={r}", n, r))
        for label, n, r in plans:
            for dtx in (False, True):
                sizes = pack(name, payloads, speech, levels, n, r, dtx)
                fwd, back = aiortc.rates(sizes, seconds)
                back2 = delayed.rates(sizes, seconds)[1]
                payload = 8 * sum(map(len, payloads)) / seconds
                rows.append((name, label, dtx, len(sizes) / seconds, payload, fwd, back, back2))
                print(rows[-1], flush=True)
    held = 1 - sum(speech) / len(speech)
    table = ["| codec | frames per packet | DTX | packets/s | codec payload | forward (IPv4) | SACKs back "
             "(aiortc, 1 per packet) | both directions | both, delayed SACKs (1 per 2) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, label, dtx, pps, payload, fwd, back, back2 in rows:
        table.append(f"| {name} | {label} | {'on' if dtx else 'off'} | {pps:.1f} | {payload / 1000:.2f} kbit/s | "
                     f"{fwd / 1000:.1f} kbit/s | {back / 1000:.1f} kbit/s | **{(fwd + back) / 1000:.1f} kbit/s** | "
                     f"{(fwd + back2) / 1000:.1f} kbit/s |")
    command = "python bench/wire.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    body = "\n".join([
        f"`{command.strip()}` — {datetime.date.today()}, {machine()}, {len(clips)} dev-set clips as "
        f"{seconds_in:.0f} s of one side of a conversation, {time.time() - started:.0f} s.",
        "",
        "Input: each clip is a turn of this side, followed by a 0.5 s gap, as much silence as the clip "
        "(the other side's turn) and another gap; room noise at -60 dBFS throughout. The VAD called "
        f"{100 * held:.0f} % of the frames non-speech (DTX sends frames only after a 200 ms hangover). "
        "Packets as a call sends them: version 3, the codec's default redundancy (160 ms for Codec2 and "
        "focal, 40 ms for Opus), no loss (so no adaptation). On the wire, per stream: forward, every "
        "message as an IPv4 packet (IPv4 20 + UDP 8 + DTLS 37 + SCTP 12 + DATA 16 bytes and the message "
        "padded to 4); back, the SACKs those packets draw (93 bytes each). aiortc, our server and CLI, "
        "SACKs every DATA packet at once, so the bold column is what a call costs today; the last "
        "column assumes delayed SACKs (RFC 4960: one per two packets; not implemented here, issue 20). "
        "Not counted: Ethernet/Wi-Fi framing, TURN, SACK gap blocks under loss, keep-alive traffic of "
        "ICE/DTLS/SCTP themselves. `--max-bitrate` rows: the frames per packet and redundancy the "
        "sender's policy picks for that cap while talking (transport/packetsize.py); each frame more "
        "than 2 a packet adds 20 ms of latency (packetization), e.g. 8 frames: +120 ms.",
        "",
        *table])
    update_section(args.out, HEADING, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
