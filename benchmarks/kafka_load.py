"""Kafka side of the benchmark: pre-producing a backlog, the baseline consumer, paced load.

Producers compress with lz4 and linger 20 ms, like the site agents
(:data:`pipeline.kafka.endpoint.KAFKA_PYTHON_PRODUCER`). The baseline is what a bare
aiokafka consumer in its own group does with the same messages: fetch, decompress,
``orjson.loads`` and count the events of each batch; nothing else.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from campus_telemetry import Campus, Load, Message, generate

from pipeline.broker.process import EmbeddedBroker
from pipeline.kafka.endpoint import KafkaEndpoint
from pipeline.kafka.site_specs import publish_specs
from pipeline.kafka.topics import ensure_topics
from pipeline.settings import load_settings

PRODUCER_OPTIONS = {
    "compression_type": "lz4",
    "linger_ms": 20,
    "max_batch_size": 1_048_576,
    "max_request_size": 4_194_304,
    "enable_idempotence": False,  # the embedded broker rejects InitProducerId
    "acks": 1,
}


def producer(bootstrap: str, **overrides: object) -> AIOKafkaProducer:
    return AIOKafkaProducer(bootstrap_servers=bootstrap, **{**PRODUCER_OPTIONS, **overrides})


#: Where a message landed: (topic, partition, offset, readings).
Placement = tuple[str, int, int, int]


def campus_backlog(
    broker: EmbeddedBroker, campus: Campus, seconds: int, gpu_every: int, batch: int
) -> Load:
    """A broker ready for a drain from the earliest offset: the topics, the campus's
    site specs, and ``seconds`` of its telemetry ending now, produced and acknowledged."""
    settings = load_settings(data_dir=broker.data_dir)
    ensure_topics(settings, KafkaEndpoint(broker.bootstrap, True, broker.cluster_id))
    publish_specs(settings, campus.specs())
    start_ms = int(time.time() * 1000) - seconds * 1000
    load = generate(campus, seconds, start_ms, gpu_every=gpu_every, batch=batch)
    asyncio.run(produce_backlog(broker.bootstrap, load.messages))
    return load


async def produce_backlog(
    bootstrap: str, messages: Sequence[Message]
) -> tuple[float, list[Placement]]:
    """Send every message and wait for all acknowledgements: seconds taken, placements."""
    started = time.perf_counter()
    prod = producer(bootstrap)
    await prod.start()
    placements: list[Placement] = []
    try:
        pending: list[tuple[asyncio.Future, Message]] = []
        for m in messages:
            pending.append((await prod.send(m.topic, m.value, key=m.key), m))
            if len(pending) >= 500 or m is messages[-1]:
                for meta, sent in zip(
                    await asyncio.gather(*(f for f, _ in pending)),
                    (s for _, s in pending),
                    strict=True,
                ):
                    placements.append((sent.topic, meta.partition, meta.offset, sent.readings))
                pending.clear()
    finally:
        await prod.stop()
    return time.perf_counter() - started, placements


@dataclass
class BaselineResult:
    readings: int
    messages: int
    seconds: float  # first fetched record -> last reading decoded
    join_s: float  # consumer start -> first fetched record (excluded)
    seen: set[tuple[str, int, int]]  # (topic, partition, offset) of every record read

    @property
    def readings_per_s(self) -> float:
        return self.readings / self.seconds


def json_readings(record: Any) -> int:
    """The baseline's decode: parse the JSON, count the events."""
    return len(orjson.loads(record.value)["events"])


async def baseline(
    bootstrap: str,
    topics: Sequence[str],
    expected: int,
    timeout: float = 300,
    decode: Callable[[Any], int] = json_readings,
) -> BaselineResult:
    """A bare consumer in its own group: fetch and decode until ``expected`` readings."""
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=f"bench-baseline-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    created = time.perf_counter()
    await consumer.start()
    readings = messages = 0
    first: float | None = None
    seen: set[tuple[str, int, int]] = set()
    try:
        while readings < expected:
            if time.perf_counter() - created > timeout:
                raise RuntimeError(f"baseline read {readings} of {expected} readings")
            before = time.perf_counter()
            batches = await consumer.getmany(timeout_ms=500)
            if batches and first is None:
                first = before  # the fetch that brought the first records counts
            for records in batches.values():
                for record in records:
                    readings += decode(record)
                    messages += 1
                    seen.add((record.topic, record.partition, record.offset))
        done = time.perf_counter()
    finally:
        await consumer.stop()
    assert first is not None
    return BaselineResult(readings, messages, done - first, first - created, seen)


@dataclass
class PacedResult:
    readings: int
    messages: int
    seconds: float
    late_s_max: float  # how far the sender fell behind its schedule, at worst

    @property
    def readings_per_s(self) -> float:
        return self.readings / self.seconds


async def paced(
    bootstrap: str,
    ticks: Sequence[Sequence[Message]],
    t0: float,
    stop: Callable[[], bool] = lambda: False,
) -> PacedResult:
    """Send tick k at ``t0 + k`` s (perf_counter), its messages spread over the second."""
    prod = producer(bootstrap, linger_ms=5)
    await prod.start()
    readings = messages = 0
    late = 0.0
    try:
        for k, tick in enumerate(ticks):
            for j, m in enumerate(tick):
                due = t0 + k + j / len(tick)
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                else:
                    late = max(late, -wait)
                await prod.send(m.topic, m.value, key=m.key)
                readings += m.readings
                messages += 1
            if stop():
                break
        await prod.flush()
    finally:
        await prod.stop()
    return PacedResult(readings, messages, time.perf_counter() - t0, late)
