"""The pipeline's own metrics (Prometheus client registry, one per process).

Counters are what the worker saw, not history: history is in ClickHouse. They live in a
registry of their own so that tests and several apps in one process do not collide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pipeline.worker.skew import SkewWatch

#: (topic, partition) -> messages behind the end of the partition
LagReader = Callable[[], Mapping[tuple[str, int], int]]
#: the notifier's stats(): {"receivers": {name: {"backlog": n, "delivered": n, ...}}}
DeliveryReader = Callable[[], Mapping[str, Any]]
#: partition -> [(message key, readings)], its heaviest keys in the last skew window
HeaviestReader = Callable[[], Mapping[int, list[tuple[str, int]]]]


class LiveCollector(Collector):
    """Figures read at scrape time from the running worker: consumer lag, deliveries."""

    def __init__(self) -> None:
        self.lag: LagReader | None = None
        self.deliveries: DeliveryReader | None = None
        self.heaviest: HeaviestReader | None = None

    def collect(self) -> Iterator[Metric]:
        yield from self._lag()
        yield from self._deliveries()
        yield self._heaviest()

    def _heaviest(self) -> Metric:
        keys = GaugeMetricFamily(
            "megawatch_partition_key_readings",
            "Readings of the heaviest message keys (sites, or shards SITE/SHARD) of each "
            "partition over the last skew window (a minute): who makes a partition heavy",
            labels=["partition", "key"],
        )
        for partition, top in sorted((self.heaviest() if self.heaviest else {}).items()):
            for key, readings in top:
                keys.add_metric([str(partition), key], readings)
        return keys

    def _lag(self) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            "megawatch_consumer_lag",
            "Messages behind the end of the partition, per assigned partition",
            labels=["topic", "partition"],
        )
        for (topic, partition), behind in sorted((self.lag() if self.lag else {}).items()):
            lag.add_metric([topic, str(partition)], behind)
        yield lag

    def _deliveries(self) -> Iterator[Metric]:
        done = CounterMetricFamily(
            "megawatch_deliveries",
            "Delivery attempts by receiver and outcome",
            labels=["receiver", "outcome"],
        )
        backlog = GaugeMetricFamily(
            "megawatch_delivery_backlog", "Notifications waiting, per receiver", labels=["receiver"]
        )
        stats = self.deliveries() if self.deliveries else {}
        for receiver, counts in sorted(stats.get("receivers", {}).items()):
            backlog.add_metric([receiver], counts.get("backlog", 0))
            for outcome, n in sorted(counts.items()):
                if outcome != "backlog":
                    done.add_metric([receiver, outcome], n)
        yield done
        yield backlog


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self._backpressure_counted = 0.0  # the sink's paused seconds already counted
        self.readings = Counter(
            "megawatch_readings", "Valid readings processed", ["topic"], registry=r
        )
        self.partition_readings = Counter(
            "megawatch_partition_readings",
            "Valid readings processed per partition (all telemetry topics): load skew",
            ["partition"],
            registry=r,
        )
        self.skew = SkewWatch()
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
        self.offset_gaps = Counter(
            "megawatch_offset_gaps",
            "Messages the consumer skipped (offset jumps within a partition; should stay 0)",
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
        self.sink_backpressure = Gauge(
            "megawatch_sink_backpressure",
            "1 while consumption is paused until the store takes the buffered rows",
            registry=r,
        )
        self.sink_backpressure_seconds = Counter(
            "megawatch_sink_backpressure_seconds",
            "Seconds consumption was paused until the store took the buffered rows (counted "
            "as each pause ends; its rate is the share of time the store holds the worker back)",
            registry=r,
        )
        self.sink_failing = Gauge(
            "megawatch_sink_failing", "1 while ClickHouse inserts fail (retried)", registry=r
        )
        self.sink_buffered_rows = Gauge(
            "megawatch_sink_buffered_rows", "Rows held in memory for ClickHouse", registry=r
        )
        self.ledger_resets = Counter(
            "megawatch_ledger_resets",
            "Partitions whose stored offsets are ahead of the broker's log (topic recreated, "
            "new cluster): the ledger is set aside, nothing is skipped",
            ["topic"],
            registry=r,
        )
        self.oldest_pending = Gauge(
            "megawatch_oldest_pending_seconds",
            "Age of the oldest message of a partition not yet done (stored, dead-lettered); "
            "its partition commits nothing past it: a stall when it keeps growing",
            ["topic", "partition"],
            registry=r,
        )
        self.sites = Gauge(
            "megawatch_sites", "Site stages owned by this worker (sites evaluated)", registry=r
        )
        self.keys = Gauge(
            "megawatch_keys",
            "Message keys (sites, or shards SITE/SHARD) whose racks this worker keeps",
            registry=r,
        )
        self.partials = Counter(
            "megawatch_partials",
            "Shard partials for site stages on other workers: sent; received and applied, "
            "ignored (replayed or older), unreadable",
            ["outcome"],
            registry=r,
        )
        self.sites_warming = Gauge(
            "megawatch_sites_warming", "Sites warming up after a (re)assignment", registry=r
        )
        self.racks_forgotten = Counter(
            "megawatch_racks_forgotten",
            "Racks forgotten after MEGAWATCH_FORGET_AFTER_S without telemetry",
            registry=r,
        )
        self.sites_unspecced = Gauge(
            "megawatch_sites_without_spec", "Sites with telemetry but no spec", registry=r
        )
        self.live = LiveCollector()
        self.live.heaviest = lambda: self.skew.heaviest
        r.register(self.live)

    def on_readings(self, topic: str, partition: int, readings: int, key: str = "") -> None:
        """Count a message's valid readings (``key``: its message key); once a minute,
        warn of a skewed load."""
        self.readings.labels(topic).inc(readings)
        self.partition_readings.labels(str(partition)).inc(readings)
        self.skew.add(partition, readings, key)
        self.skew.check(self.owned_partitions)

    def owned_partitions(self) -> int:
        """Partition numbers assigned to this worker (every telemetry topic has the same
        count and keys, so partition n of each is one unit of load)."""
        lag = self.live.lag() if self.live.lag else {}
        return len({partition for topic, partition in lag if topic.startswith("telemetry.")})

    def on_flushed(self, table: str, rows: int, seconds: float) -> None:
        self.sink_rows.labels(table).inc(rows)
        self.sink_batch_rows.observe(rows)
        self.sink_insert_seconds.observe(seconds)

    def on_sink_state(self, sink: Any) -> None:
        """Hook of :class:`pipeline.worker.sink.ClickHouseSink` (back-pressure, failing)."""
        self.sink_backpressure.set(int(sink.backpressure))
        paused = sink.backpressure_seconds - self._backpressure_counted
        if paused > 0:
            self.sink_backpressure_seconds.inc(paused)
            self._backpressure_counted = sink.backpressure_seconds
        self.sink_failing.set(int(sink.failing))
        self.sink_buffered_rows.set(sink.buffered_rows)
