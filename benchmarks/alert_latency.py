"""Alert latency: producer send of the breaching reading -> the alert on the ``alerts`` topic.

A small probe site (``racks`` racks, a 1 MW cap, 5 s staleness so its warm-up is short)
runs beside the campus load. After its warm-up it alternates between over its cap and
well under it (below the hysteresis margin), one rack batch per ``interval_s``: with the
``for`` durations at 0 every batch completes a rule's condition, so each one fires or
resolves ``cap_critical`` and ``cap_warning``. Each batch has its own site total, so an
alert is matched to the batch that caused it by its ``value`` (the total in MW), not by
counting, and a batch swallowed by a warm-up or a stale tick cannot shift the pairs.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka_load import producer

from pipeline.events import SiteSpec
from pipeline.kafka.topics import ALERTS, RACK_POWER

CAP_RULES = ("cap_critical", "cap_warning")


@dataclass(frozen=True)
class Probe:
    site: str = "bench-probe"
    racks: int = 20
    cap_mw: float = 1.0
    stale_after_s: float = 5.0
    interval_s: float = 0.5
    transitions: int = 40

    def spec(self) -> SiteSpec:
        return SiteSpec(
            site=self.site, cap_mw=self.cap_mw, stale_after_s=self.stale_after_s, region="bench"
        )

    def total_mw(self, i: int) -> float:
        """Batch i (1-based): odd over the cap, even under 0.9 x cap minus the margin."""
        base = 1.05 if i % 2 else 0.5
        return round(self.cap_mw * (base + 0.001 * i), 3)

    def batch(self, total_mw: float) -> bytes:
        ts, watts = int(time.time() * 1000), total_mw * 1e6 / self.racks
        return orjson.dumps(
            {
                "events": [
                    {
                        "site": self.site,
                        "rack": f"p{r:02d}",
                        "ts": ts,
                        "power_w": watts,
                        "source": "bench",
                    }
                    for r in range(self.racks)
                ]
            }
        )


@dataclass
class AlertWatch:
    """Reads the alerts topic from the start; notes when each probe alert arrives."""

    bootstrap: str
    site: str
    arrivals: dict[tuple[str, float], tuple[float, str, int]] = field(default_factory=dict)
    #: (rule, value) -> the alert record's Kafka timestamp (the worker's send), epoch s
    produced: dict[tuple[str, float], float] = field(default_factory=dict)
    other_alerts: dict[str, int] = field(default_factory=dict)  # rule -> events (not probe)
    #: every probe alert event by ``fingerprint:seq`` (a count above 1 is a duplicate)
    deliveries: dict[str, int] = field(default_factory=dict)
    stopping: bool = False

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=10,
        )
        await consumer.start()
        try:
            parts = consumer.partitions_for_topic(ALERTS) or set()
            tps = [TopicPartition(ALERTS, p) for p in sorted(parts)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            while not self.stopping:
                batches = await consumer.getmany(timeout_ms=50)
                now = time.perf_counter()
                for records in batches.values():
                    for record in records:
                        self._note(orjson.loads(record.value), now, record.timestamp / 1000)
        finally:
            await consumer.stop()

    def _note(self, alert: dict, now: float, produced_s: float) -> None:
        if alert.get("site") != self.site or alert.get("rule") not in CAP_RULES:
            rule = str(alert.get("rule"))
            self.other_alerts[rule] = self.other_alerts.get(rule, 0) + 1
            return
        dedupe = f"{alert.get('fingerprint')}:{alert.get('seq')}"
        self.deliveries[dedupe] = self.deliveries.get(dedupe, 0) + 1
        key = (alert["rule"], round(float(alert["value"]), 3))
        self.arrivals.setdefault(key, (now, alert["status"], int(alert.get("seq", 0))))
        self.produced.setdefault(key, produced_s)


async def run_probe(bootstrap: str, probe: Probe, warmup_s: float) -> dict[int, float]:
    """Warm the probe site up under its cap, then send the alternating batches.

    Returns the perf_counter time of each batch's send, by batch number."""
    prod = producer(bootstrap, linger_ms=0)
    await prod.start()
    sent: dict[int, float] = {}
    try:
        until = time.perf_counter() + warmup_s
        while time.perf_counter() < until:
            await prod.send_and_wait(
                RACK_POWER, probe.batch(probe.cap_mw * 0.4), key=probe.site.encode()
            )
            await asyncio.sleep(probe.interval_s)
        for i in range(1, probe.transitions + 1):
            value = probe.batch(probe.total_mw(i))
            sent[i] = time.perf_counter()
            await prod.send_and_wait(RACK_POWER, value, key=probe.site.encode())
            await asyncio.sleep(max(0.0, sent[i] + probe.interval_s - time.perf_counter()))
    finally:
        await prod.stop()
    return sent


def quantiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {
        "n": len(ordered),
        "p50_ms": pick(0.5),
        "p90_ms": pick(0.9),
        "p99_ms": pick(0.99),
        "max_ms": round(ordered[-1] * 1000, 1),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 1),
    }


def latencies(probe: Probe, sent: dict[int, float], watch: AlertWatch) -> dict[str, object]:
    """Per rule and status, send -> arrival of the alert each batch caused; and over all
    of them, that time split at the alert record's Kafka timestamp: send -> the worker
    produced it (fetch, queueing, evaluation) and produced -> arrival (the alerts topic
    and the watcher's fetch). Both clocks are this host's (perf_counter for the send,
    made wall-clock here)."""
    per: dict[str, list[float]] = {}
    missing: list[str] = []
    wall = time.time() - time.perf_counter()
    to_worker: list[float] = []
    to_watcher: list[float] = []
    for i, t_send in sent.items():
        status = "firing" if i % 2 else "resolved"
        for rule in CAP_RULES:
            hit = watch.arrivals.get((rule, probe.total_mw(i)))
            if hit is None or hit[1] != status:
                missing.append(f"{rule}#{i}")
                continue
            per.setdefault(rule, []).append(hit[0] - t_send)
            per.setdefault(f"{rule}:{status}", []).append(hit[0] - t_send)
            produced = watch.produced.get((rule, probe.total_mw(i)))
            if produced is not None:
                to_worker.append(produced - (t_send + wall))
                to_watcher.append(hit[0] + wall - produced)
    every = [v for rule in CAP_RULES for v in per.get(rule, [])]
    return {
        "all_cap_alerts": quantiles(every),
        "send_to_worker_produce": quantiles(to_worker),
        "worker_produce_to_arrival": quantiles(to_watcher),
        **{name: quantiles(values) for name, values in sorted(per.items())},
        "batches_sent": len(sent),
        "alerts_missing": missing[:20],
        "alerts_missing_count": len(missing),
    }
