"""Transport: packets, redundancy and parity, jitter buffer, receiver reports, impairment.

Synchronous leaf modules that move opaque codec frames (bytes); no sockets, no codecs.
"""
from transport.impairment import Impairment
from transport.jitterbuffer import MISSING, Comfort, JitterBuffer, JitterBufferConfig, JitterStats
from transport.netem import NetemSpec, NetemSpecError, parse_netem
from transport.packet import Packet, PacketError, parse_packet
from transport.packetizer import DtxConfig, Packetizer, PacketizerConfig
from transport.report import ReceiverReport, parse_report
from transport.simulate import LinkResult, simulate_link

__all__ = [
    "Impairment", "MISSING", "Comfort", "JitterBuffer", "JitterBufferConfig", "JitterStats", "NetemSpec",
    "NetemSpecError", "parse_netem", "Packet", "PacketError", "parse_packet", "Packetizer", "DtxConfig",
    "PacketizerConfig", "ReceiverReport", "parse_report", "LinkResult", "simulate_link",
]
