"""``focalcall sim``: a call's whole media path offline, on a simulated clock.

encode → packetize (redundancy, parity) → netem-style impairment → jitter buffer →
decode with concealment, exactly the objects a live call uses, so what it prints is what
a call over that network would do.
"""
from __future__ import annotations

import argparse
import heapq
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SIM_SENDER = 1
TAIL_S = 0.5  # the sender keeps sending silence this long after the input


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
    frames_held: int = 0            # DTX: frames the sender did not send (a pause)
    keepalives: int = 0             # DTX keep-alive packets sent
    frames_comfort: int = 0         # played as comfort noise
    frames_pushed: int = 0          # every frame the sender encoded (the input and its tail)
    sack_bps: float = 0.0           # the SACKs coming back (transport.wire.WireModel: one per packet)
    frames_per_packet: int = 2      # the sender's packet size at the end

    @property
    def both_ways_bps(self) -> float:
        """On the wire in both directions: the packets as IPv4 and the SACKs back."""
        return self.wire_bps + self.sack_bps

    @property
    def dtx_share(self) -> float:
        """Share of the time the sender was in DTX (sending keep-alives, not frames)."""
        return self.frames_held / max(1, self.frames_pushed)

    @property
    def loss_before(self) -> float:
        """Share of packets the network dropped (before any recovery)."""
        return self.packets_lost_network / max(1, self.packets_sent)

    @property
    def loss_after(self) -> float:
        """Residual frame loss after recovery: frames that had to be concealed."""
        return self.frames_concealed / max(1, self.frames)


def simulate_call(pcm16k: np.ndarray, codec_name: str, netem: str = "", seed: int = 0,
                  frames_per_packet: int = 2, redundancy: int | None = None,
                  parity_packets: int = 0, adapt: bool = True, dtx: bool = False,
                  max_bitrate: float | None = None) -> SimResult:
    """Run 16 kHz ``pcm16k`` through a simulated call with ``codec_name`` over ``netem``.

    Events run in time order as in a live call: each frame is encoded and packetized when
    captured, packets cross the impairment, the receiver pops one frame per period, and
    (with ``adapt``) sends a receiver report every second that the sender adapts its
    redundancy to. The sender keeps talking (silence) for :data:`TAIL_S` after the input,
    as a call would, so the last frames get the same protection as the others. With ``dtx``
    the sender stops sending in pauses (VAD, keep-alives) and the receiver plays comfort noise.
    ``frames_per_packet`` is the size on a calm link; ``max_bitrate`` and the reports (with
    ``adapt``) make packets larger (transport.packetsize), as in a call.
    """
    from client.call import QUIET_RMS, REPORT_INTERVAL, default_redundancy
    from client.remote import OUTPUT_RATE, RemoteStream
    from codec.payload_types import payload_type
    from codec.registry import get_codec
    from codec.resample import resample
    from codec.vad import Vad
    from transport import DtxConfig, Impairment, PacketError, Packetizer, PacketizerConfig, parse_packet
    from transport.packet import VERSION_3
    from transport.packetsize import PacketSizer, SizeConfig, follow_report, most_frames
    from transport.wire import SACK_BYTES, wire_bytes

    codec = get_codec(codec_name)
    n = codec.frame_samples
    pcm = resample(pcm16k, OUTPUT_RATE, codec.sample_rate)
    n_frames = -(-(len(pcm) + codec.delay_samples) // n)  # the input, its codec delay flushed
    period = codec.frame_ms / 1000
    tail = int(np.ceil(TAIL_S / period))
    frames = np.pad(pcm, (0, (n_frames + tail) * n - len(pcm))).astype(np.float32).reshape(-1, n)
    pt = payload_type(codec.name)
    packetizer = Packetizer(PacketizerConfig(
        payload_type=pt, sender=SIM_SENDER, frames_per_packet=frames_per_packet,
        redundancy=default_redundancy(codec) if redundancy is None else redundancy,
        parity_packets=parity_packets, version=VERSION_3, dtx=DtxConfig() if dtx else None))
    sizer = PacketSizer(SizeConfig(frame_ms=codec.frame_ms, base=frames_per_packet,
                                   most=max(frames_per_packet, most_frames(codec.frame_ms)), max_bitrate=max_bitrate))
    frame_bytes = codec.bitrate * codec.frame_ms / 8000  # until frames are seen
    packetizer.frames_per_packet, packetizer.redundancy = sizer.plan(frame_bytes, packetizer.redundancy)
    vad = Vad()
    impairment = Impairment(netem, seed=seed) if netem.strip() else None
    encoder = codec.encoder()
    streams: dict[int, RemoteStream] = {}  # the receiver's one stream, once a packet arrived
    in_flight: list[tuple[float, int, bytes]] = []  # heap of (arrival, order, packet)
    packets_sent = payload_bytes = packet_bytes = wire_total = malformed = 0
    next_report = REPORT_INTERVAL

    def receive_until(now: float) -> None:
        nonlocal malformed
        while in_flight and in_flight[0][0] <= now:
            arrival, _, data = heapq.heappop(in_flight)
            try:
                packet = parse_packet(data)
            except PacketError:  # corrupted on the way ("corrupt" in the spec)
                malformed += 1
                continue
            if not streams:
                streams[0] = RemoteStream(SIM_SENDER, "sim", packet)
            stream = streams[0]
            for playout in stream.due(arrival):
                stream.decode(playout)
            stream.push(packet, arrival)
        for stream in streams.values():
            for playout in stream.due(now):
                stream.decode(playout)

    for i, frame in enumerate(frames):
        now = (i + 1) * period
        receive_until(now)
        if adapt and now >= next_report and streams:
            report = streams[0].buffer.report(SIM_SENDER)
            follow_report(sizer, packetizer, report, frame_bytes)
            next_report += REPORT_INTERVAL
        payload = encoder.encode(frame)
        quiet = float(np.sqrt(np.mean(np.square(frame)))) < QUIET_RMS
        speech = vad.update(frame)
        packets = packetizer.push(payload, quiet=quiet, speech=speech, level=vad.background_level) \
            + (packetizer.flush() if i == len(frames) - 1 else [])
        if i < n_frames:
            payload_bytes += len(payload)
        for packet in packets:
            packets_sent += 1
            packet_bytes += len(packet)
            wire_total += wire_bytes(len(packet))
            copies = impairment.decide(now, packet, wire_bytes(len(packet))) if impairment else [(0.0, packet)]
            for delay, data in copies:
                heapq.heappush(in_flight, (now + delay, packets_sent, data))
    receive_until(len(frames) * period + 1.0)

    if not streams:
        raise ValueError(f"no packet arrived over {netem!r}: nothing to decode")
    stream = streams[0]
    sent_span = range(n_frames)  # the packetizer numbers frames from 0
    audio = stream.aligned_audio(sent_span)
    audio = np.pad(audio, (0, max(0, len(pcm16k) - len(audio))))[:len(pcm16k)]
    seconds = len(frames) * period
    s = stream.stats
    return SimResult(
        audio=audio.astype(np.float32), frames=n_frames, packets_sent=packets_sent,
        packets_lost_network=impairment.stats.dropped if impairment else 0,
        frames_concealed=stream.concealed_frames(sent_span), frames_unplayed=stream.unplayed_frames(sent_span),
        frames_recovered=s.frames_recovered_redundancy + s.frames_recovered_parity,
        playout_delay_ms=s.playout_delay_mean_ms,
        payload_bps=8 * payload_bytes / (n_frames * period), packet_bps=8 * packet_bytes / seconds,
        wire_bps=8 * wire_total / seconds, malformed=malformed, frames_held=packetizer.frames_held,
        sack_bps=8 * packets_sent * SACK_BYTES / seconds, frames_per_packet=packetizer.frames_per_packet,
        keepalives=packetizer.keepalives, frames_pushed=packetizer.frames_pushed, frames_comfort=stream.comfort_frames(sent_span))


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
    p.add_argument("--frames-per-packet", type=int, default=2, choices=range(1, 9), metavar="N",
                   help="codec frames per packet, 1-8 (default 2)")
    p.add_argument("--max-bitrate", type=float, default=None, metavar="BPS",
                   help="cap the stream at BPS bit/s on the wire, all headers and the SACKs back counted "
                        "(packets carry more frames, then less redundancy)")
    p.add_argument("--dtx", action=argparse.BooleanOptionalAction, default=True,
                   help="stop sending in pauses (keep-alives, comfort noise at the receiver; default on, "
                        "as in focalcall join; --no-dtx sends every frame)")
    p.add_argument("--redundancy", type=int, default=None, metavar="R",
                   help="previous frames repeated in each packet (default: 160 ms worth, 40 ms for Opus)")
    p.add_argument("--parity", type=int, default=0, metavar="K", help="XOR parity over every K packets")
    p.add_argument("--no-adapt", dest="adapt", action="store_false",
                   help="keep the redundancy fixed (by default the sender adapts it to the receiver's "
                        "reports every second, as in a call)")
    p.add_argument("--seed", type=int, default=0, help="impairment random seed (default 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Simulate, write OUT, print the figures."""
    from codec.wavio import read_wav, write_wav

    pcm = read_wav(args.input, 16000)
    r = simulate_call(pcm, args.codec, args.netem, args.seed, args.frames_per_packet, args.redundancy,
                      args.parity, args.adapt, args.dtx, args.max_bitrate)
    write_wav(args.output, r.audio, 16000)
    print(f"{args.codec} over {args.netem or 'a perfect network'!r}: {r.frames} frames in {r.packets_sent} packets\n"
          f"  loss       {100 * r.loss_before:.1f}% of packets on the network, "
          f"{100 * r.loss_after:.2f}% of frames after recovery ({r.frames_recovered} frames recovered, "
          f"{r.frames_concealed} concealed, {r.frames_unplayed} skipped by the jitter buffer)\n"
          f"  delay      {r.playout_delay_ms:.0f} ms mean jitter-buffer delay\n"
          f"  bitrate    {r.payload_bps / 1000:.2f} kbit/s codec payload, {r.packet_bps / 1000:.2f} kbit/s "
          f"packets, {r.wire_bps / 1000:.1f} kbit/s on the wire (counting 93 B IPv4+UDP+DTLS+SCTP per packet), "
          f"{r.both_ways_bps / 1000:.1f} kbit/s with the SACKs back; {r.frames_per_packet} frames a packet at the end"
          + (f"\n  dtx        {100 * r.dtx_share:.0f}% of the time in a pause ({r.keepalives} keep-alives, "
             f"{r.frames_comfort} frames of comfort noise)" if args.dtx else "")
          + (f"\n  dropped    {r.malformed} corrupted packets" if r.malformed else ""))
    return 0
