"""Prometheus metrics of one server. Labels are bounded: never room ids or user names."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ServerMetrics:
    """Every metric the server exports, in a registry of its own (so tests can run many servers)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.rooms = Gauge("focalcall_rooms", "Rooms with at least one participant", registry=r)
        self.participants = Gauge("focalcall_participants", "Participants joined", registry=r)
        self.packets_in = Counter("focalcall_packets_received", "Audio packets received from participants",
                                  registry=r)
        self.bytes_in = Counter("focalcall_bytes_received", "Audio bytes received from participants",
                                registry=r)
        self.packets_relayed = Counter("focalcall_packets_relayed",
                                       "Audio packets sent to participants (one per receiver)", registry=r)
        self.bytes_relayed = Counter("focalcall_bytes_relayed", "Audio bytes sent to participants", registry=r)
        self.packets_not_relayed = Counter(
            "focalcall_packets_not_relayed", "Relays skipped because the receiver's channel was not open",
            registry=r)
        self.malformed_packets = Counter("focalcall_malformed_packets", "Data-channel messages dropped as malformed",
                                         ["reason"], registry=r)
        self.signaling_messages = Counter("focalcall_signaling_messages", "Signaling messages handled",
                                          ["type"], registry=r)
        self.signaling_errors = Counter("focalcall_signaling_errors", "Signaling messages answered with an error",
                                        ["code"], registry=r)
        self.channel_states = Counter("focalcall_datachannel_state_changes", "Data-channel state changes",
                                      ["label", "state"], registry=r)
        self.connection_states = Counter("focalcall_peer_connection_state_changes",
                                         "Peer-connection state changes", ["state"], registry=r)
        self.relay_seconds = Histogram(
            "focalcall_relay_seconds", "Time from receiving an audio packet to handing it to the last receiver",
            buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025), registry=r)
