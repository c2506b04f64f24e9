"""Publishing site specs to, and reading them back from, the compacted control.sites topic.

Reading takes every record up to the topic's end and keeps the last value per key (what
compaction would keep: :func:`latest_per_key`, which reads control.jobs too). On the
embedded broker the end offset comes from :func:`pipeline.kafka.tansu.true_end_offsets`,
since Tansu reports it short.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pydantic import ValidationError

from pipeline.errors import BrokerError
from pipeline.events import SiteSpec
from pipeline.kafka.endpoint import KafkaEndpoint, kafka_python_options, resolve_kafka
from pipeline.kafka.topics import SITES, ensure_topics
from pipeline.settings import Settings

logger = logging.getLogger(__name__)


def publish_specs(settings: Settings, specs: list[SiteSpec]) -> None:
    """Publish each spec keyed by its site; returns once every record is acknowledged."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    endpoint, _ = resolve_kafka(settings, start_if_missing=False)
    ensure_topics(settings, endpoint)
    try:
        producer = KafkaProducer(**kafka_python_options(settings, endpoint, "producer"))
        try:
            futures = [
                producer.send(
                    SITES, key=s.site.encode(), value=s.model_dump_json(exclude_none=True).encode()
                )
                for s in specs
            ]
            for future in futures:
                future.get(timeout=15)
        finally:
            producer.close(timeout=5)
    except KafkaError as exc:
        raise BrokerError(f"cannot publish to {SITES} on {endpoint.bootstrap}: {exc}") from exc


def read_specs(settings: Settings) -> dict[str, SiteSpec]:
    """The current spec of every site on control.sites (last record per key)."""
    specs = {}
    for site, raw in latest_per_key(settings, SITES).items():
        if not raw:
            continue  # a tombstone deletes the spec
        try:
            specs[site] = SiteSpec.model_validate_json(raw)
        except ValidationError:
            logger.warning("ignoring an invalid spec for %s on %s", site, SITES)
    return specs


def latest_per_key(settings: Settings, topic: str) -> dict[str, bytes | None]:
    """The last value of every key of a compacted topic (None: a null value, which
    deletes the key), read up to the topic's end: what compaction would keep. Used for
    control.sites here and control.jobs (:func:`pipeline.jobs.publish.read_jobs`)."""
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
            ends = _end_offsets(settings, endpoint, consumer, tps)
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


def _end_offsets(
    settings: Settings, endpoint: KafkaEndpoint, consumer: Any, tps: list[Any]
) -> dict[Any, int]:
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
