"""server/metrics_merge.py: two workers' real expositions summed into one."""
from prometheus_client import CollectorRegistry, generate_latest

from server.metrics import ServerMetrics
from server.metrics_merge import MergedCollector
from tests.utils import metric_value


def test_two_workers_sum_to_one_exposition():
    workers = [ServerMetrics(codecs=("focal-800",)) for _ in range(2)]
    for n, m in enumerate(workers, start=1):
        m.rooms.set(n)
        m.packets_relayed.inc(10 * n)
        m.relay_seconds.observe(0.0002)
        m.malformed_packets.labels("parse").inc(n)
        m.signaling_messages.labels("join").inc()
    workers[1].signaling_messages.labels("offer").inc()
    collector = MergedCollector()
    collector.update(generate_latest(m.registry).decode() for m in workers)
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    assert metric_value(text, "focalcall_rooms") == 3
    assert metric_value(text, "focalcall_packets_relayed_total") == 30
    assert metric_value(text, "focalcall_relay_seconds_count") == 2
    assert metric_value(text, "focalcall_relay_seconds_bucket", 'le="0.00025"') == 2
    assert metric_value(text, "focalcall_malformed_packets_total", 'reason="parse"') == 3
    assert metric_value(text, "focalcall_signaling_messages_total", 'type="join"') == 2
    assert metric_value(text, "focalcall_signaling_messages_total", 'type="offer"') == 1
    assert "_created" not in text
    assert text.count("# TYPE focalcall_rooms gauge") == 1
