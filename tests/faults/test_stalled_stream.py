"""Issue 10 #8: a stalled stream after a restart mid-backlog of dead letters.

A large backlog on telemetry.deadletter, the worker SIGKILLed and then SIGTERMed
mid-backlog. Before the fix a graceful stop waited forever in Faust's ``wait_empty``
for acks that only a sink flush could give (measured: killed after the 30 s grace, so
each SIGTERM was a SIGKILL), and a message never done held its partition forever. The
test asks that the stop is graceful, every partition's committed offset reaches the
end of its log, each record is stored once, and no partition waits on a message.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fault_run import Worker, producer
from kafka import KafkaConsumer, TopicPartition

from pipeline.broker.process import EmbeddedBroker
from pipeline.kafka.topics import DEADLETTER

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.exclusive]

RECORDS = 30_000
PARTITIONS = 4


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(tmp_path / "data") as running:
        yield running


def dead_letter(i: int) -> bytes:
    return json.dumps(
        {
            "reason": "invalid",
            "topic": "telemetry.rack_power",
            "partition": i % PARTITIONS,
            "offset": i,
            "raw": "x" * 200,
            "reason_code": "invalid",
            "received_at": "2026-11-30T00:00:00+00:00",
        }
    ).encode()


def committed(bootstrap: str) -> list[int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id="megawatch")
    try:
        tps = [TopicPartition(DEADLETTER, p) for p in range(PARTITIONS)]
        return [consumer.committed(tp) or 0 for tp in tps]
    finally:
        consumer.close()


def stored(worker: Worker) -> tuple[int, int]:
    [row] = worker.sql(
        "SELECT count() AS n, uniqExact(kafka_partition, kafka_offset) AS u FROM dead_letters"
    )
    return int(row["n"]), int(row["u"])


def test_a_restart_mid_backlog_stops_gracefully_and_no_partition_stalls(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    worker = Worker(tmp_path / "data").start()
    prod = producer(broker.bootstrap)
    try:
        for i in range(RECORDS):
            prod.send(DEADLETTER, key=str(i).encode(), value=dead_letter(i))
        prod.flush(60)
        time.sleep(2)
        worker.kill()  # SIGKILL mid-backlog
        worker.start()
        time.sleep(2)
        status = worker.stop(signal.SIGTERM, timeout=20)  # a graceful stop mid-backlog
        assert status == 0, f"SIGTERM did not stop the worker within 20 s (status {status})"
        worker.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and sum(committed(broker.bootstrap)) < RECORDS:
            time.sleep(1)
        ends = committed(broker.bootstrap)
        assert sum(ends) == RECORDS, f"committed offsets stuck at {ends}"
        assert stored(worker) == (RECORDS, RECORDS)
        metrics = httpx.get(f"{worker.url}/metrics", timeout=5).text
        waiting = [
            line
            for line in metrics.splitlines()
            if line.startswith("megawatch_oldest_pending_seconds{") and not line.endswith(" 0.0")
        ]
        assert waiting == [], waiting
    finally:
        prod.close()
        worker.stop()
