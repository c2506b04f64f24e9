"""A partition Faust has paused is paused in aiokafka too, so it is not fetched.

Faust pauses a partition (a table's changelog once it is recovered) only in its own
bookkeeping. aiokafka kept fetching it; its records then waited in aiokafka's fetch
buffer, never asked for, and aiokafka holds every fetch from a broker while one of its
buffered results waits (up to ``prefetch_backoff``, 100 ms): a stall of all telemetry
after each first write to a changelog partition. ``pause_as_faust_does`` keeps aiokafka's
paused set equal to what Faust does not ask for. Real broker, real aiokafka consumer.
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
from pipeline.kafka.faust_fixes import pause_as_faust_does

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


async def read(consumer: AIOKafkaConsumer, tp: TopicPartition, active: set[TP]) -> list[bytes]:
    """What Faust's getmany, asking for ``tp`` of the ``active`` partitions, gets within a
    few fetches (each preceded by the sync, as in ``MegawatchConsumerThread``)."""
    got: list[Any] = []
    for _ in range(10):
        pause_as_faust_does(consumer, active)
        batch = await consumer.getmany(tp, timeout_ms=200)
        got += batch.get(tp, [])
        if got:
            break
    return [r.value for r in got]


async def fetch_with_one_partition_paused(bootstrap: str) -> dict[str, Any]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        consumer.assign([STREAM, CHANGELOG])
        await consumer.seek_to_beginning(STREAM, CHANGELOG)
        active = {TP(TOPIC, 0)}  # Faust's own TP type, as Faust passes it
        stream = await read(consumer, STREAM, active)
        await asyncio.sleep(0.5)  # fetches go on in the background meanwhile
        pause_as_faust_does(consumer, active)
        seen = {
            "stream": stream,
            "paused": set(consumer.paused()),
            "buffered": set(consumer._fetcher._records),  # the buffer that held fetches
        }
        both = {TP(TOPIC, 0), TP(TOPIC, 1)}
        pause_as_faust_does(consumer, both)
        seen["resumed_paused"] = set(consumer.paused())
        seen["changelog_after_resume"] = await read(consumer, CHANGELOG, both)
        return seen
    finally:
        await consumer.stop()


def test_a_partition_faust_does_not_ask_for_is_not_fetched_and_is_read_once_resumed(
    bootstrap: str,
) -> None:
    seen = asyncio.run(fetch_with_one_partition_paused(bootstrap))
    assert seen["stream"] == [b"record of 0"]
    assert seen["paused"] == {CHANGELOG}
    assert CHANGELOG not in seen["buffered"]  # nothing of it waits in the fetch buffer
    assert seen["resumed_paused"] == set()
    assert seen["changelog_after_resume"] == [b"record of 1"]  # nothing skipped
