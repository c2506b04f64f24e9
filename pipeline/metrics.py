"""The pipeline's own metrics (Prometheus client registry, one per process).

Counters are what the worker saw, not history: history is in ClickHouse. They live in a
registry of their own so that tests and several apps in one process do not collide.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.readings = Counter(
            "megawatch_readings", "Valid readings processed", ["topic"], registry=r
        )
        self.messages = Counter(
            "megawatch_messages", "Kafka messages consumed", ["topic"], registry=r
        )
        self.dead_letters = Counter(
            "megawatch_dead_letters",
            "Messages or events dead-lettered",
            ["topic", "reason"],
            registry=r,
        )
        self.replayed = Counter(
            "megawatch_replayed_messages",
            "Redelivered messages not stored again (already in ClickHouse)",
            ["topic"],
            registry=r,
        )
        self.alerts = Counter(
            "megawatch_alerts", "Alert events published", ["rule", "status"], registry=r
        )
        self.sink_rows = Counter(
            "megawatch_sink_rows", "Rows inserted into ClickHouse", ["table"], registry=r
        )
        self.sink_batch_rows = Histogram(
            "megawatch_sink_batch_rows",
            "Rows per ClickHouse insert",
            buckets=(100, 1_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000),
            registry=r,
        )
        self.sink_insert_seconds = Histogram(
            "megawatch_sink_insert_seconds",
            "ClickHouse insert latency",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.sink_failures = Counter(
            "megawatch_sink_failures", "Failed ClickHouse inserts (retried)", registry=r
        )
        self.sites = Gauge("megawatch_sites", "Sites tracked live by this worker", registry=r)
        self.sites_warming = Gauge(
            "megawatch_sites_warming", "Sites warming up after a (re)assignment", registry=r
        )
        self.sites_unspecced = Gauge(
            "megawatch_sites_without_spec", "Sites with telemetry but no spec", registry=r
        )

    def on_flushed(self, table: str, rows: int, seconds: float) -> None:
        self.sink_rows.labels(table).inc(rows)
        self.sink_batch_rows.observe(rows)
        self.sink_insert_seconds.observe(seconds)
