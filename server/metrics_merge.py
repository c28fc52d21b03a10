"""One ``/metrics`` for several worker processes: their expositions summed sample by sample.

Every worker exports the same metric families (server/metrics.py); counters, histogram buckets
and the gauges (rooms, participants, sockets, draining) all add up across workers, so the sum
is what one process serving every room would export and the dashboard and alerts need no
worker label. ``_created`` samples (timestamps) are left out. A worker that restarts starts
its counters at zero: Prometheus's ``rate()`` reads the drop as a counter reset.
"""
from __future__ import annotations

from typing import Iterable, Iterator

from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector


def merge_expositions(texts: Iterable[str]) -> list[Metric]:
    """Sum the samples of several text expositions; families keep their first-seen order."""
    families: dict[str, Metric] = {}
    sums: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            if family.name.endswith("_created"):  # the text parser makes them families of their own
                continue
            if family.name not in families:
                families[family.name] = Metric(family.name, family.documentation, family.type)
                sums[family.name] = {}
            samples = sums[family.name]
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                key = (sample.name, tuple(sorted(sample.labels.items())))
                samples[key] = samples.get(key, 0.0) + sample.value
    for name, family in families.items():
        for (sample_name, labels), value in sums[name].items():
            family.add_sample(sample_name, dict(labels), value)
    return list(families.values())


class MergedCollector(Collector):
    """Exports whatever :meth:`update` last gave it (the front scrapes, then generates)."""

    def __init__(self) -> None:
        self._families: list[Metric] = []

    def update(self, texts: Iterable[str]) -> None:
        self._families = merge_expositions(texts)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)
