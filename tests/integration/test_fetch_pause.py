"""A partition Faust has paused is paused in aiokafka too, so it is not fetched.

Faust pauses a partition (a table's changelog once it is recovered) only in its own
bookkeeping. aiokafka kept fetching it; its records then waited in aiokafka's fetch
buffer, never asked for, and aiokafka holds every fetch from a broker while one of its
buffered results waits (up to ``prefetch_backoff``, 100 ms): a stall of all telemetry
after each first write to a changelog partition. The consumer thread keeps aiokafka's
paused set equal to Faust's (``PauseMirror``), and no more: a partition Faust leaves out
only while its queue is full keeps what aiokafka fetched of it. Real broker, real
aiokafka consumer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.types import TP
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from pipeline.broker.process import EmbeddedBroker
from pipeline.kafka.faust_fixes import PauseMirror

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

TOPIC = "paused-or-not"
STREAM, CHANGELOG = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)


@pytest.fixture
def bootstrap(tmp_path: Path) -> Iterator[str]:
    with EmbeddedBroker(tmp_path / "broker") as running:
        admin = KafkaAdminClient(bootstrap_servers=running.bootstrap)
        admin.create_topics([NewTopic(TOPIC, 2, 1)])
        admin.close()
        producer = KafkaProducer(bootstrap_servers=running.bootstrap)
        for tp in (STREAM, CHANGELOG):
            producer.send(TOPIC, value=f"record of {tp.partition}".encode(), partition=tp.partition)
        producer.flush(timeout=10)
        producer.close(timeout=5)
        yield running.bootstrap


async def read(
    consumer: AIOKafkaConsumer, mirror: PauseMirror, tp: TopicPartition, faust_paused: set[TP]
) -> list[bytes]:
    """What Faust's getmany asking for ``tp`` gets within a few fetches, each preceded by
    the sync with Faust's paused partitions, as in ``MegawatchConsumerThread``."""
    got: list[Any] = []
    for _ in range(10):
        mirror.sync(consumer, faust_paused)
        batch = await consumer.getmany(tp, timeout_ms=200)
        got += batch.get(tp, [])
        if got:
            break
    return [r.value for r in got]


async def buffered_after_a_while(
    consumer: AIOKafkaConsumer, mirror: PauseMirror, faust_paused: set[TP]
) -> set[Any]:
    """aiokafka's fetch buffer (the one that held fetches) once its background fetches had
    time to bring the changelog partition's record, synced as before each getmany."""
    for _ in range(20):
        await asyncio.sleep(0.1)
        mirror.sync(consumer, faust_paused)
        if CHANGELOG in consumer._fetcher._records:
            break
    return set(consumer._fetcher._records)


async def started(bootstrap: str) -> AIOKafkaConsumer:
    # the worker's fetch wait on Tansu (which answers a fetch only when its wait ends)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, fetch_max_wait_ms=20)
    await consumer.start()
    consumer.assign([STREAM, CHANGELOG])
    await consumer.seek_to_beginning(STREAM, CHANGELOG)
    return consumer


async def with_changelog_paused(bootstrap: str) -> dict[str, Any]:
    consumer, mirror = await started(bootstrap), PauseMirror()
    try:
        paused = {TP(TOPIC, 1)}  # Faust's own TP type, as Faust keeps it
        seen = {
            "stream": await read(consumer, mirror, STREAM, paused),
            "buffered": await buffered_after_a_while(consumer, mirror, paused),
            "paused": set(consumer.paused()),
        }
        paused.clear()  # Faust resumes it (the same set object, changed in place)
        mirror.sync(consumer, paused)
        seen["resumed_paused"] = set(consumer.paused())
        seen["changelog_after_resume"] = await read(consumer, mirror, CHANGELOG, paused)
        return seen
    finally:
        await consumer.stop()


async def with_nothing_paused(bootstrap: str) -> dict[str, Any]:
    consumer, mirror = await started(bootstrap), PauseMirror()
    try:
        return {
            "stream": await read(consumer, mirror, STREAM, set()),
            "buffered": await buffered_after_a_while(consumer, mirror, set()),
            "paused": set(consumer.paused()),
        }
    finally:
        await consumer.stop()


def test_a_partition_faust_paused_is_not_fetched_and_is_read_once_resumed(
    bootstrap: str,
) -> None:
    seen = asyncio.run(with_changelog_paused(bootstrap))
    assert seen["stream"] == [b"record of 0"]
    assert seen["paused"] == {CHANGELOG}
    assert CHANGELOG not in seen["buffered"]  # nothing of it waits in the fetch buffer
    assert seen["resumed_paused"] == set()
    assert seen["changelog_after_resume"] == [b"record of 1"]  # nothing skipped


def test_a_partition_faust_only_leaves_out_keeps_what_was_fetched(bootstrap: str) -> None:
    """Faust stops asking for a partition whose stream queue is full without pausing
    it: aiokafka's prefetched records of it stay, to be read next (not fetched again)."""
    seen = asyncio.run(with_nothing_paused(bootstrap))
    assert seen["stream"] == [b"record of 0"]
    assert seen["paused"] == set()
    assert CHANGELOG in seen["buffered"]
