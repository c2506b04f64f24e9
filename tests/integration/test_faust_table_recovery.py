"""A Faust table on the embedded broker is recovered exactly after worker restarts.

This is the test for Tansu's wrong end offsets (quirk 1 of MEASURED.md): the counts are
written to the table's changelog in multi-record batches, and without the fix in
``pipeline.kafka.tansu`` Faust stops reading the changelog early and loses the last updates
of each partition after a restart. Each worker runs in its own process (the app file
is ``faust_table_app.py``) and stores the table in memory only, so every start rebuilds
it from the changelog.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from pipeline.broker.process import EmbeddedBroker
from pipeline.kafka.tansu import seek_to_true_end, true_end_offsets

pytestmark = [pytest.mark.integration, pytest.mark.exclusive, pytest.mark.timeout(120)]

APP_FILE = Path(__file__).with_name("faust_table_app.py")
REPO_ROOT = Path(__file__).resolve().parents[2]
INPUT_TOPIC = "increments"  # as in faust_table_app.py
PARTITIONS = 4
KEYS = 40
WORKER_TIMEOUT_S = 45.0


def produce_increments(bootstrap: str, events: int, start: int) -> Counter[str]:
    """Send ``events`` increments in lz4 batches; the counts they add, per key."""
    added: Counter[str] = Counter()
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=20,
        batch_size=256 * 1024,
        compression_type="lz4",
        enable_idempotence=False,
    )
    try:
        for i in range(start, start + events):
            key, value = f"key-{i % KEYS}", (3, 7)[i % 2]  # 5 on average
            producer.send(INPUT_TOPIC, key=key.encode(), value=str(value).encode())
            added[key] += value
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=5)
    return added


def wait_for_json(path: Path, worker: subprocess.Popen[bytes], log: Path) -> dict[str, int]:
    deadline = time.monotonic() + WORKER_TIMEOUT_S
    while not path.exists():
        if worker.poll() is not None:
            pytest.fail(f"worker exited ({worker.returncode}): {log.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {path.name} within {WORKER_TIMEOUT_S} s: {log.read_text()[-2000:]}")
        time.sleep(0.05)
    data: dict[str, int] = json.loads(path.read_text())
    path.unlink()
    return data


class Worker:
    """One run of the Faust worker process; stopped with SIGTERM like an operator would."""

    def __init__(self, bootstrap: str, state_dir: Path, target: int, run: int) -> None:
        self.state_dir = state_dir
        self.log = state_dir / f"worker-{run}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(APP_FILE), bootstrap, str(state_dir), str(target)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
            )

    def recovered(self) -> dict[str, int]:
        return wait_for_json(self.state_dir / "recovered.json", self.process, self.log)

    def done(self) -> dict[str, int]:
        return wait_for_json(self.state_dir / "done.json", self.process, self.log)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                pytest.fail(f"worker ignored SIGTERM: {self.log.read_text()[-2000:]}")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(tmp_path / "broker") as running:
        admin = KafkaAdminClient(bootstrap_servers=running.bootstrap)
        admin.create_topics([NewTopic(INPUT_TOPIC, PARTITIONS, 1)])
        admin.close()
        yield running


def test_table_state_survives_two_restarts_exactly(broker: EmbeddedBroker, tmp_path: Path) -> None:
    state_dir = tmp_path / "worker"
    state_dir.mkdir()
    expected = produce_increments(broker.bootstrap, 6000, start=0)
    assert sum(expected.values()) == 30_000

    first = Worker(broker.bootstrap, state_dir, sum(expected.values()), run=1)
    try:
        assert first.recovered() == {}
        assert first.done() == dict(expected)
    finally:
        first.stop()

    second_target = sum(expected.values()) + 15_000
    second = Worker(broker.bootstrap, state_dir, second_target, run=2)
    try:
        assert second.recovered() == dict(expected)
        expected += produce_increments(broker.bootstrap, 3000, start=6000)
        assert second.done() == dict(expected)
    finally:
        second.stop()

    third = Worker(broker.bootstrap, state_dir, 0, run=3)
    try:
        assert third.recovered() == dict(expected)
    finally:
        third.stop()


def write_batches(bootstrap: str, topic: str) -> dict[int, int]:
    """200 records to partition 1 in one batch, 3 single-record batches to partition 0."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=100, enable_idempotence=False)
    try:
        for i in range(200):
            producer.send(topic, value=b"old-%d" % i, partition=1)
        producer.flush(timeout=10)
        for i in range(3):
            producer.send(topic, value=b"single-%d" % i, partition=0)
            producer.flush(timeout=10)
    finally:
        producer.close(timeout=5)
    return {0: 3, 1: 200, 2: 0, 3: 0}


def test_true_end_offsets_see_past_the_first_record_of_the_last_batch(
    broker: EmbeddedBroker,
) -> None:
    expected = write_batches(broker.bootstrap, "quirk")
    partitions = [TopicPartition("quirk", p) for p in range(PARTITIONS)]

    async def ends() -> dict[TopicPartition, int]:
        return await true_end_offsets(broker.bootstrap, partitions)

    assert asyncio.run(ends()) == {tp: expected[tp.partition] for tp in partitions}


def test_a_new_reader_starting_at_the_true_end_sees_only_new_records(
    broker: EmbeddedBroker,
) -> None:
    write_batches(broker.bootstrap, "quirk")

    async def read_after_seek() -> list[bytes]:
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([TopicPartition("quirk", p) for p in range(PARTITIONS)])
            await seek_to_true_end(consumer, broker.bootstrap)
            await asyncio.to_thread(produce_one, broker.bootstrap)
            batches = await consumer.getmany(timeout_ms=3000)
        finally:
            await consumer.stop()
        return [record.value for records in batches.values() for record in records]

    def produce_one(bootstrap: str) -> None:
        producer = KafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
        producer.send("quirk", value=b"new", partition=1).get(timeout=10)
        producer.close(timeout=5)

    assert asyncio.run(read_after_seek()) == [b"new"]
