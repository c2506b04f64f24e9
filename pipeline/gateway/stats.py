"""The gateway's own figures: one set of counters, shown as /metrics and /api/status.

The counters live where they are counted (the server's requests and refusals, the
mapper's unmapped series, the joiner's waiting and incomplete events, the sender's
acknowledged and refused events); :class:`GatewayCollector` reads them at scrape time,
and :func:`status` gives the same figures as JSON for ``megawatch gateway status``.
Unmapped metric names are bounded (:data:`MAX_NAMES`): past that, ``_other_``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from pipeline.gateway.joins import Joiner
    from pipeline.gateway.sender import KafkaSender

MAX_NAMES = 2000


@dataclass
class RequestStats:
    started: float = field(default_factory=time.time)
    requests: Counter[tuple[str, int]] = field(default_factory=Counter)  # (endpoint, status)
    samples: Counter[str] = field(default_factory=Counter)  # per endpoint
    refused: Counter[tuple[str, str]] = field(default_factory=Counter)  # (endpoint, cause)
    unmapped: Counter[tuple[str, str]] = field(default_factory=Counter)  # (metric, reason)

    def add_unmapped(self, counts: Counter[tuple[str, str]]) -> None:
        for (name, reason), n in counts.items():
            known = len(self.unmapped) < MAX_NAMES or (name, reason) in self.unmapped
            self.unmapped[(name if known else "_other_", reason)] += n


class GatewayCollector(Collector):
    def __init__(self, stats: RequestStats, joiner: Joiner, sender: KafkaSender) -> None:
        self.stats, self.joiner, self.sender = stats, joiner, sender

    def collect(self) -> Iterator[Metric]:
        s = self.stats
        yield _counter(
            "requests",
            "Requests by endpoint and HTTP status",
            ["endpoint", "code"],
            {(e, str(c)): n for (e, c), n in s.requests.items()},
        )
        yield _counter(
            "samples",
            "Samples received, per endpoint",
            ["endpoint"],
            {(e,): n for e, n in s.samples.items()},
        )
        yield _counter(
            "refused_requests",
            "Requests refused, by endpoint and cause",
            ["endpoint", "cause"],
            dict(s.refused),
        )
        yield _counter(
            "unmapped_samples",
            "Samples that feed no event, by metric name and reason",
            ["metric", "reason"],
            dict(s.unmapped),
        )
        yield _counter(
            "events",
            "Events Kafka acknowledged, per kind",
            ["kind"],
            {(k,): n for k, n in self.sender.sent.items()},
        )
        yield _counter(
            "refused_events",
            "Events refused before sending (the worker would dead-letter them)",
            ["kind", "reason"],
            dict(self.sender.refused),
        )
        yield _counter(
            "incomplete_events",
            "Events dropped at the end of the join window, by missing part",
            ["kind", "missing"],
            dict(self.joiner.incomplete),
        )
        yield _counter(
            "duplicate_samples",
            "Samples of events already sent (retries)",
            [],
            {(): self.joiner.duplicates},
        )
        waiting = GaugeMetricFamily(
            "megawatch_gateway_waiting_events", "Events waiting for parts from other requests"
        )
        waiting.add_metric([], len(self.joiner.waiting))
        yield waiting


def _counter(
    name: str, doc: str, labels: list[str], values: Mapping[Any, int]
) -> CounterMetricFamily:
    family = CounterMetricFamily(f"megawatch_gateway_{name}", doc, labels=labels)
    for key, n in sorted(values.items()):
        family.add_metric(list(key), n)
    return family


def registry(collector: GatewayCollector) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(collector)
    return reg


def status(collector: GatewayCollector) -> dict[str, Any]:
    """The figures of ``megawatch gateway status``."""
    s, joiner, sender = collector.stats, collector.joiner, collector.sender
    unmapped: dict[str, dict[str, int]] = {}
    for (name, reason), n in s.unmapped.items():
        unmapped.setdefault(name, {})[reason] = n
    return {
        "uptime_s": round(time.time() - s.started, 1),
        "requests": {f"{e} {c}": n for (e, c), n in sorted(s.requests.items())},
        "samples": dict(s.samples),
        "events_produced": dict(sender.sent),
        "unmapped": dict(sorted(unmapped.items())),
        "refused_requests": {f"{e} {c}": n for (e, c), n in sorted(s.refused.items())},
        "refused_events": {f"{k} {r}": n for (k, r), n in sorted(sender.refused.items())},
        "waiting_events": len(joiner.waiting),
        "incomplete_events": {f"{k} {m}": n for (k, m), n in sorted(joiner.incomplete.items())},
        "duplicate_samples": joiner.duplicates,
    }
