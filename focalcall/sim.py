"""``focalcall sim``: a call's whole media path offline, on a simulated clock.

encode → packetize (redundancy, parity) → netem-style impairment → jitter buffer →
decode with concealment, exactly the objects a live call uses, so what it prints is what
a call over that network would do.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SIM_SENDER = 1


@dataclass
class SimResult:
    """What came out and what it cost."""

    audio: np.ndarray               # 16 kHz, time-aligned with the input, same length
    frames: int
    packets_sent: int
    packets_lost_network: int       # dropped by the impairment (before recovery)
    frames_concealed: int           # lost for good: played by concealment
    frames_unplayed: int            # skipped by the jitter buffer to shrink its delay
    frames_recovered: int           # rebuilt from redundancy or parity
    playout_delay_ms: float
    payload_bps: float
    packet_bps: float               # our packets: header, redundancy, parity
    wire_bps: float                 # plus IPv4/UDP/DTLS/SCTP (transport.wire)
    malformed: int

    @property
    def loss_before(self) -> float:
        return self.packets_lost_network / max(1, self.packets_sent)

    @property
    def loss_after(self) -> float:
        """Residual frame loss after recovery: frames that had to be concealed."""
        return self.frames_concealed / max(1, self.frames)


def simulate_call(pcm16k: np.ndarray, codec_name: str, netem: str = "", seed: int = 0,
                  frames_per_packet: int = 2, redundancy: int | None = None,
                  parity_packets: int = 0) -> SimResult:
    """Run 16 kHz ``pcm16k`` through a simulated call with ``codec_name`` over ``netem``."""
    from client.call import QUIET_RMS, default_redundancy
    from client.remote import OUTPUT_RATE, RemoteStream
    from codec.payload_types import payload_type
    from codec.registry import get_codec
    from codec.resample import resample
    from transport import Impairment, PacketError, Packetizer, PacketizerConfig, parse_packet
    from transport.wire import wire_bytes

    codec = get_codec(codec_name)
    n = codec.frame_samples
    pcm = resample(pcm16k, OUTPUT_RATE, codec.sample_rate)
    total = -(-(len(pcm) + codec.delay_samples) // n) * n  # flush the codec's delay
    frames = np.pad(pcm, (0, total - len(pcm))).astype(np.float32).reshape(-1, n)
    period = codec.frame_ms / 1000
    pt = payload_type(codec.name)
    packetizer = Packetizer(PacketizerConfig(
        payload_type=pt, sender=SIM_SENDER, frames_per_packet=frames_per_packet,
        redundancy=default_redundancy(codec) if redundancy is None else redundancy,
        parity_packets=parity_packets))
    impairment = Impairment(netem, seed=seed) if netem.strip() else None
    encoder = codec.encoder()
    sent: list[tuple[float, bytes]] = []
    payload_bytes = 0
    for i, frame in enumerate(frames):
        payload = encoder.encode(frame)
        payload_bytes += len(payload)
        quiet = float(np.sqrt(np.mean(np.square(frame)))) < QUIET_RMS
        sent += [((i + 1) * period, p) for p in packetizer.push(payload, quiet=quiet)]
    sent += [(len(frames) * period, p) for p in packetizer.flush()]

    arrivals = []
    for t, packet in sent:
        copies = impairment.decide(t, packet, wire_bytes(len(packet))) if impairment else [(0.0, packet)]
        arrivals += [(t + delay, data) for delay, data in copies]
    arrivals.sort(key=lambda a: a[0])

    stream = RemoteStream(SIM_SENDER, "sim", pt)
    malformed = 0
    for t, data in arrivals:
        for playout in stream.due(t):
            stream.decode(playout)
        try:
            stream.push(parse_packet(data), t)
        except PacketError:  # corrupted on the way ("corrupt" in the spec)
            malformed += 1
    end = (arrivals[-1][0] if arrivals else 0.0) + 1.0
    t = arrivals[0][0] if arrivals else 0.0
    while t < end:
        t += period
        for playout in stream.due(t):
            stream.decode(playout)

    sent_span = range(len(frames))  # the packetizer numbers frames from 0
    audio = stream.aligned_audio(sent_span)
    audio = np.pad(audio, (0, max(0, len(pcm16k) - len(audio))))[:len(pcm16k)]
    seconds = len(frames) * period
    s = stream.stats
    return SimResult(
        audio=audio.astype(np.float32), frames=len(frames), packets_sent=len(sent),
        packets_lost_network=impairment.stats.dropped if impairment else 0,
        frames_concealed=stream.concealed_frames(sent_span), frames_unplayed=stream.unplayed_frames(sent_span),
        frames_recovered=s.frames_recovered_redundancy + s.frames_recovered_parity,
        playout_delay_ms=s.playout_delay_mean_ms,
        payload_bps=8 * payload_bytes / seconds,
        packet_bps=8 * sum(len(p) for _, p in sent) / seconds,
        wire_bps=8 * sum(wire_bytes(len(p)) for _, p in sent) / seconds, malformed=malformed)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sim`` subcommand."""
    p = subparsers.add_parser(
        "sim", help="simulate a call's media path over an impaired network, offline",
        description="Encode IN.wav, packetize it with redundancy/parity, impair the packets with a "
                    "netem specification, play them out through the jitter buffer with concealment, "
                    "and write OUT.wav (16 kHz, time-aligned with IN). Prints loss before and after "
                    "recovery, concealment, playout delay and the on-wire bitrate.")
    p.add_argument("input", type=Path, metavar="IN.wav")
    p.add_argument("output", type=Path, metavar="OUT.wav")
    p.add_argument("--codec", default="codec2-700c", help="codec name (default codec2-700c)")
    p.add_argument("--netem", default="", metavar="SPEC",
                   help='netem specification, e.g. "loss 20%%", "loss gemodel 5%% 40%%", '
                        '"delay 40ms 20ms distribution normal" (default: a perfect network)')
    p.add_argument("--frames-per-packet", type=int, default=2, choices=range(1, 5), metavar="N",
                   help="codec frames per packet, 1-4 (default 2)")
    p.add_argument("--redundancy", type=int, default=None, metavar="R",
                   help="previous frames repeated in each packet (default: 160 ms worth, 40 ms for Opus)")
    p.add_argument("--parity", type=int, default=0, metavar="K", help="XOR parity over every K packets")
    p.add_argument("--seed", type=int, default=0, help="impairment random seed (default 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Simulate, write OUT, print the figures."""
    from codec.wavio import read_wav, write_wav

    pcm = read_wav(args.input, 16000)
    r = simulate_call(pcm, args.codec, args.netem, args.seed, args.frames_per_packet, args.redundancy,
                      args.parity)
    write_wav(args.output, r.audio, 16000)
    print(f"{args.codec} over {args.netem or 'a perfect network'!r}: {r.frames} frames in {r.packets_sent} packets\n"
          f"  loss       {100 * r.loss_before:.1f}% of packets on the network, "
          f"{100 * r.loss_after:.2f}% of frames after recovery ({r.frames_recovered} frames recovered, "
          f"{r.frames_concealed} concealed, {r.frames_unplayed} skipped by the jitter buffer)\n"
          f"  delay      {r.playout_delay_ms:.0f} ms mean jitter-buffer delay\n"
          f"  bitrate    {r.payload_bps / 1000:.2f} kbit/s codec payload, {r.packet_bps / 1000:.2f} kbit/s "
          f"packets, {r.wire_bps / 1000:.1f} kbit/s on the wire (counting 93 B IPv4+UDP+DTLS+SCTP per packet)"
          + (f"\n  dropped    {r.malformed} corrupted packets" if r.malformed else ""))
    return 0
