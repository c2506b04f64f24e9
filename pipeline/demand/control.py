"""Demand-response events on Kafka: publishing them to ``control.dr``, reading the topic
back as the workers see it, and cancelling one.

Keys are the event ids; an event published again replaces its earlier record.
Cancelling an event under way ends it now (its end time rewritten, ``cancelled`` set:
it is measured up to then); one not started yet is forgotten (a null value); one that is
over cannot be cancelled.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import ValidationError

from pipeline.errors import BrokerError, ConfigError
from pipeline.events import DemandResponse
from pipeline.kafka.endpoint import kafka_python_options, resolve_kafka
from pipeline.kafka.site_specs import latest_per_key
from pipeline.kafka.topics import DR, ensure_topics
from pipeline.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DrMap:
    """What control.dr holds now: every event (last record per key)."""

    events: dict[str, DemandResponse]
    invalid: int  # records that are no event (the workers ignore them too)


def cancelled(event: DemandResponse, now_ms: int) -> DemandResponse | None:
    """``event`` as cancelled at ``now_ms``: ended now, or None (forget it) when it has
    not started; :class:`ConfigError` when it is over already."""
    if now_ms >= event.end_ts:
        raise ConfigError(f"DR event {event.id} ended already: nothing to cancel")
    if now_ms <= event.start_ts:
        return None
    return event.model_copy(update={"end_ts": now_ms, "cancelled": True})


def publish_events(settings: Settings, events: Iterable[DemandResponse | str]) -> int:
    """Publish events (an id alone: forget that event); returns once all are
    acknowledged, with how many were sent."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    endpoint, _ = resolve_kafka(settings, start_if_missing=False)
    ensure_topics(settings, endpoint)
    try:
        producer = KafkaProducer(**kafka_python_options(settings, endpoint, "producer"))
        try:
            futures = [
                producer.send(DR, key=item.encode(), value=None)
                if isinstance(item, str)
                else producer.send(DR, key=item.id.encode(), value=encode(item))
                for item in events
            ]
            for future in futures:
                future.get(timeout=15)
        finally:
            producer.close(timeout=5)
    except KafkaError as exc:
        raise BrokerError(f"cannot publish to {DR} on {endpoint.bootstrap}: {exc}") from exc
    return len(futures)


def encode(event: DemandResponse) -> bytes:
    return event.model_dump_json(exclude_none=True).encode()


def read_events(settings: Settings) -> DrMap:
    """The events as the workers see them."""
    events, invalid = {}, 0
    for key, raw in latest_per_key(settings, DR).items():
        if not raw:
            continue  # forgotten
        try:
            events[key] = DemandResponse.model_validate_json(raw)
        except ValidationError:
            invalid += 1
    return DrMap(events, invalid)
