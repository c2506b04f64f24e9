"""Compacted control topics (control.sites, control.jobs, control.dr): publishing records
to one, and reading back what it holds now.

A record is a key and a pydantic model (sent as its JSON, nulls left out) or None (a null
value: compaction then forgets the key). Reading takes every record up to the topic's end
and keeps the last value per key, what compaction would keep (:func:`latest_per_key`). On
the embedded broker the end offset comes from :func:`pipeline.kafka.tansu.true_end_offsets`,
since Tansu reports it short.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from pipeline.errors import BrokerError
from pipeline.kafka.endpoint import KafkaEndpoint, kafka_python_options, resolve_kafka
from pipeline.kafka.topics import ensure_topics
from pipeline.settings import Settings

Model = TypeVar("Model", bound=BaseModel)

# How long one record may wait for its acknowledgement, and the producer for its close.
_ACK_TIMEOUT_S = 15
_CLOSE_TIMEOUT_S = 5


def publish_latest(
    settings: Settings, topic: str, records: Iterable[tuple[str, BaseModel | None]]
) -> int:
    """Publish ``(key, model or None)`` records to ``topic``; returns once all are
    acknowledged, with how many were sent."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    endpoint, _ = resolve_kafka(settings, start_if_missing=False)
    ensure_topics(settings, endpoint)
    try:
        producer = KafkaProducer(**kafka_python_options(settings, endpoint, "producer"))
        try:
            futures = [
                producer.send(
                    topic, key=key.encode(), value=None if value is None else encoded(value)
                )
                for key, value in records
            ]
            for future in futures:
                future.get(timeout=_ACK_TIMEOUT_S)
        finally:
            producer.close(timeout=_CLOSE_TIMEOUT_S)
    except KafkaError as exc:
        raise BrokerError(f"cannot publish to {topic} on {endpoint.bootstrap}: {exc}") from exc
    return len(futures)


def encoded(value: BaseModel) -> bytes:
    """The record value of a model: its JSON, nulls left out."""
    return value.model_dump_json(exclude_none=True).encode()


def read_latest(
    settings: Settings, topic: str, model: type[Model]
) -> tuple[dict[str, Model], list[str]]:
    """What ``topic`` holds now, as ``model`` per key (keys with a null value left out),
    and the keys whose value is no valid ``model`` (the workers ignore them too)."""
    valid: dict[str, Model] = {}
    invalid: list[str] = []
    for key, raw in latest_per_key(settings, topic).items():
        if not raw:
            continue  # forgotten
        try:
            valid[key] = model.model_validate_json(raw)
        except ValidationError:
            invalid.append(key)
    return valid, invalid


def latest_per_key(settings: Settings, topic: str) -> dict[str, bytes | None]:
    """The last value of every key of a compacted topic (None: a null value, which
    deletes the key), read up to the topic's end: what compaction would keep."""
    endpoint, _ = resolve_kafka(settings, start_if_missing=False)
    latest: dict[str, bytes | None] = {}
    for key, value in _read_all(settings, endpoint, topic):
        if key:
            latest[bytes(key).decode("utf-8", errors="replace")] = value
    return latest


def _read_all(settings: Settings, endpoint: KafkaEndpoint, topic: str) -> list[tuple[Any, Any]]:
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    try:
        consumer = KafkaConsumer(
            **kafka_python_options(settings, endpoint, "consumer"),
            enable_auto_commit=False,
            consumer_timeout_ms=5_000,
        )
        try:
            parts = consumer.partitions_for_topic(topic) or set()
            tps = [TopicPartition(topic, p) for p in sorted(parts)]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            ends = _end_offsets(endpoint, consumer, tps)
            records = []
            while any(consumer.position(tp) < ends[tp] for tp in tps):
                batch = consumer.poll(timeout_ms=1_000)
                if not batch:
                    break
                for messages in batch.values():
                    records += [(m.key, m.value) for m in messages]
            return records
        finally:
            consumer.close()
    except KafkaError as exc:
        raise BrokerError(f"cannot read {topic} on {endpoint.bootstrap}: {exc}") from exc


def _end_offsets(endpoint: KafkaEndpoint, consumer: Any, tps: list[Any]) -> dict[Any, int]:
    reported = consumer.end_offsets(tps)
    if not endpoint.embedded:
        return dict(reported)
    from pipeline.kafka.tansu import true_end_offsets

    true = asyncio.run(
        true_end_offsets(
            endpoint.servers,
            [(tp.topic, tp.partition) for tp in tps],
            reported={(tp.topic, tp.partition): reported[tp] for tp in tps},
        )
    )
    return {tp: true[(tp.topic, tp.partition)] for tp in tps}
