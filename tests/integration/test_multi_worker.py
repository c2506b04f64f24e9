"""Three real workers on one embedded broker and one embedded store (shared through the
store server: every worker reaches it with the same ``chdb://`` DSN).

A dozen sites, two per partition, ramp over their cap and back while one worker is
SIGKILLed and another joins, so partitions move twice during the breach. The outcome
must be exact: every valid reading stored once, each site's cap alerts fire once and
resolve once, and the sites that moved warm up on their new owner.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kafka.partitioner.default import murmur2
from worker_harness import WorkerFleet, now_ms, producer, read_topic, send_batch, wait_for

from pipeline.broker.process import EmbeddedBroker
from pipeline.demo.worker_process import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.exclusive]

PARTITIONS = 6
SITES_PER_PARTITION = 2
RACKS = 5
TICK_S = 0.5
#: (start s, MW per site): under the cap, over it (kill and join happen here), back under
PLAN = ((0.0, 0.5), (6.0, 1.2), (34.0, 0.5))
FEED_S = 48.0
KILL_AT_S = 13.0
JOIN_AT_S = 19.0


def spread_sites() -> list[str]:
    """Site ids whose murmur2 partitions cover every partition equally."""
    by_partition: dict[int, list[str]] = {p: [] for p in range(PARTITIONS)}
    n = 0
    while any(len(v) < SITES_PER_PARTITION for v in by_partition.values()):
        site = f"mw-{n}"
        n += 1
        bucket = by_partition[(murmur2(site.encode()) & 0x7FFFFFFF) % PARTITIONS]
        if len(bucket) < SITES_PER_PARTITION:
            bucket.append(site)
    return sorted(s for sites in by_partition.values() for s in sites)


SITES = spread_sites()


def mw_at(elapsed: float) -> float:
    return [mw for start, mw in PLAN if elapsed >= start][-1]


class Feeder(threading.Thread):
    """One batch of RACKS readings per site per tick, at the plan's power."""

    def __init__(self, bootstrap: str) -> None:
        super().__init__(daemon=True)
        self.prod = producer(bootstrap)
        self.sent = 0
        self.started_at = 0.0
        self.error: BaseException | None = None

    def run(self) -> None:
        self.started_at = time.monotonic()
        try:
            while (elapsed := time.monotonic() - self.started_at) < FEED_S:
                ts, mw = now_ms(), mw_at(elapsed)
                for site in SITES:
                    events = [
                        {"site": site, "rack": f"r{i}", "ts": ts, "power_w": mw * 1e6 / RACKS}
                        for i in range(RACKS)
                    ]
                    send_batch(self.prod, "telemetry.rack_power", site, events)
                self.prod.flush()
                self.sent += len(SITES) * RACKS
                time.sleep(max(0.0, TICK_S - (time.monotonic() - self.started_at - elapsed)))
        except BaseException as exc:  # surfaced by the test
            self.error = exc

    def wait_until(self, elapsed: float) -> None:
        while time.monotonic() - self.started_at < elapsed:
            time.sleep(0.1)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(tmp_path / "data") as running:
        yield running


@pytest.fixture
def fleet(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[WorkerFleet]:
    """Every worker started is stopped at the end, whatever happened."""
    running = WorkerFleet(tmp_path, PARTITIONS)
    try:
        yield running
    finally:
        running.stop_all()


def owned_sites(worker: WorkerProcess) -> set[str]:
    state = httpx.get(f"{worker.url}/api/state", timeout=10).json()
    return {s["site"] for s in state["sites"]}


def publish_specs(bootstrap: str) -> None:
    prod = producer(bootstrap)
    for site in SITES:
        spec = {"site": site, "cap_mw": 1.0, "warn_ratio": 0.9, "stale_after_s": 3}
        prod.send("control.sites", key=site.encode(), value=json.dumps(spec).encode())
    prod.flush()
    prod.close()


def test_three_workers_kill_and_join(broker: EmbeddedBroker, fleet: WorkerFleet) -> None:
    assert len(SITES) == PARTITIONS * SITES_PER_PARTITION
    fleet.start_all(f"w{i}" for i in range(3))
    assert len(fleet.running()) == 3, [w.last_error() for w in fleet.started]
    publish_specs(broker.bootstrap)
    time.sleep(1.0)  # the specs reach every worker's GlobalTable

    feeder = Feeder(broker.bootstrap)
    feeder.start()
    feeder.wait_until(KILL_AT_S)
    victim = max(fleet.running(), key=lambda w: len(owned_sites(w)))
    moved = owned_sites(victim)
    assert moved, "the worker to kill owns no site"
    kill_ms = now_ms()
    victim.stop(signal.SIGKILL)
    feeder.wait_until(JOIN_AT_S)
    fleet.start("w3")  # joins while the sites are still over their cap
    feeder.join()
    assert feeder.error is None, feeder.error
    produced = feeder.sent

    def all_resolved() -> list[dict]:
        alerts = read_topic(broker.bootstrap, "alerts", settle_s=1)
        resolved = sum(a["status"] == "resolved" for a in alerts)
        return alerts if resolved >= 2 * len(SITES) else []

    wait_for(all_resolved, 60, "every site's cap alerts resolved")
    time.sleep(2)  # a late duplicate would have arrived by now
    alerts = read_topic(broker.bootstrap, "alerts", settle_s=1)
    episodes = sorted((a["site"], a["rule"], a["status"], a["seq"]) for a in alerts)
    expected = sorted(
        (site, rule, status, seq)
        for site in SITES
        for rule in ("cap_critical", "cap_warning")
        for status, seq in (("firing", 1), ("resolved", 2))
    )
    assert episodes == expected

    reader = next(w for w in fleet.running() if w is not victim)

    def stored() -> dict:
        row = reader.sql(
            "SELECT count() AS n, uniqExact(site, rack, ts) AS distinct_rows FROM rack_power"
        )[0]
        return row if row["n"] >= produced else {}

    row = wait_for(stored, 60, f"{produced} readings stored")
    assert row == {"n": produced, "distinct_rows": produced}  # none lost, none twice

    # The new owners warmed up: site rows marked warming after the kill, for moved sites.
    warmed = reader.sql(
        "SELECT DISTINCT site FROM site_power WHERE warming = 1 AND ts > fromUnixTimestamp64Milli("
        "{kill:Int64}, 'UTC')",
        {"kill": kill_ms},
    )
    assert moved <= {r["site"] for r in warmed}

    # Skew is visible: each worker counts its readings per partition it processed.
    for worker in fleet.running():
        per_partition, per_topic = partition_readings(worker)
        assert per_partition and set(per_partition) <= {str(p) for p in range(PARTITIONS)}
        assert sum(per_partition.values()) == per_topic


def partition_readings(worker: WorkerProcess) -> tuple[dict[str, float], float]:
    """megawatch_partition_readings_total by partition, and megawatch_readings_total."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{worker.url}/metrics", timeout=10).text
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
    per_partition = {
        s.labels["partition"]: s.value
        for s in samples
        if s.name == "megawatch_partition_readings_total"
    }
    total = sum(s.value for s in samples if s.name == "megawatch_readings_total")
    return per_partition, total
