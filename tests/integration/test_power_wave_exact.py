"""Exact accounting of power waves across a worker SIGKILL: every sample sent is in
``power_wave`` (aggregated or late) or in a dead letter, once.

Waves of a plain-keyed site and of a site keyed by two shards (``SITE/SHARD``) stream in
live, with bad events mixed in (a negative sample: that event is dead-lettered, its
batch's other events kept). The worker is SIGKILLed mid-stream and a new one takes over;
the reference is what Kafka holds. Raw samples are stored too (their own table), and
must be stored once as well; features go on after the restart.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from worker_harness import WorkerProcess, now_ms, producer, read_topic, wait_for

from pipeline.broker.process import EmbeddedBroker
from pipeline.kafka.topics import POWER_WAVE

pytestmark = [pytest.mark.integration, pytest.mark.exclusive]

KEYS = ("kill-1", "kill-2/a", "kill-2/b")
METERS = 6
SAMPLES = 5  # per event: 250 ms at 50 ms
ENV = {"MEGAWATCH_WAVE_STORE_SAMPLES": "true"}


def events(key: str, ts: int, n: int) -> list[dict[str, Any]]:
    site = key.split("/")[0]
    shard = key.partition("/")[2]
    out = [
        {
            "site": site,
            "rack": f"{shard}r{m}",
            "ts": ts,
            "interval_ms": 50,
            "power_w": [50_000.0 + 10 * m + j for j in range(SAMPLES)],
        }
        for m in range(METERS)
    ]
    if n % 7 == 3:  # a bad event: dead-lettered alone
        out[2] = {**out[2], "power_w": [50_000.0, -1.0, 50_000.0]}
    return out


def test_samples_in_equal_samples_stored_plus_dead_letters_across_a_sigkill(
    tmp_path: Path,
) -> None:
    with EmbeddedBroker(tmp_path / "data") as broker:
        prod = producer(broker.bootstrap)
        stop = threading.Event()

        def feed() -> None:
            n = 0
            while not stop.is_set():
                ts = now_ms() - 300
                for key in KEYS:
                    body = json.dumps({"events": events(key, ts, n)}).encode()
                    prod.send(POWER_WAVE, key=key.encode(), value=body)
                prod.flush()
                n += 1
                time.sleep(0.25)

        first = WorkerProcess(tmp_path / "data", ENV).start()
        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        second = None
        try:
            wait_for(
                lambda: first.sql("SELECT count() n FROM power_wave")[0]["n"] > 200,
                60,
                "rows before the kill",
            )
            first.stop(signal.SIGKILL)
            time.sleep(2)  # waves keep coming while no worker runs
            second = WorkerProcess(tmp_path / "data", ENV).start()
            killed_at = now_ms()
            time.sleep(8)
            stop.set()
            feeder.join(5)
            _check(broker.bootstrap, second, killed_at)
        finally:
            stop.set()
            first.stop()
            if second is not None:
                second.stop()


def _check(bootstrap: str, worker: WorkerProcess, killed_at: int) -> None:
    records = read_topic(bootstrap, POWER_WAVE, 1)
    sent = sum(len(e["power_w"]) for r in records for e in r["events"])
    bad = sum(len(e["power_w"]) for r in records for e in r["events"] if min(e["power_w"]) < 0)
    assert bad > 0

    def totals() -> dict[str, Any]:
        row = worker.sql(
            "SELECT (SELECT sum(samples) FROM power_wave) AS stored, "
            "(SELECT sum(late) FROM power_wave) AS late, "
            "(SELECT count() FROM power_wave) AS events, "
            "(SELECT sum(length(power_w)) FROM power_wave_samples) AS raw"
        )[0]
        letters = worker.sql(
            "SELECT DISTINCT `partition`, `offset`, `index`, raw FROM dead_letters "
            "WHERE topic = 'telemetry.power_wave'"
        )
        row["dead"] = sum(len(json.loads(d["raw"])["power_w"]) for d in letters)
        return row if row["stored"] + row["dead"] >= sent else {}

    row = wait_for(totals, 60, f"{sent} samples stored or dead-lettered")
    assert row["stored"] + row["dead"] == sent  # nothing lost, nothing twice
    assert row["dead"] == bad
    assert row["raw"] == row["stored"]  # the raw samples once too
    per_message = worker.sql(
        "SELECT kafka_partition p, kafka_offset o, count() c FROM power_wave "
        "GROUP BY p, o HAVING c NOT IN (5, 6)"
    )
    assert per_message == []  # a message's events stored once (5: its bad one left out)
    late = row["late"]
    assert late >= 0  # counted apart: a late sample is taken in, not aggregated
    after = worker.sql(
        "SELECT site, count() n FROM wave_features FINAL "
        "WHERE domain = '' AND ts > fromUnixTimestamp64Milli({at:Int64}) GROUP BY site ORDER BY site",
        {"at": killed_at},
    )
    assert [r["site"] for r in after] == ["kill-1", "kill-2"]  # the stages go on
