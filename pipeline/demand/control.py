"""Demand-response events on Kafka: publishing them to ``control.dr``, reading the topic
back as the workers see it, and cancelling one.

Keys are the event ids; an event published again replaces its earlier record.
Cancelling an event under way ends it now (its end time rewritten, ``cancelled`` set:
it is measured up to then); one not started yet is forgotten (a null value); one that is
over cannot be cancelled.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.errors import ConfigError
from pipeline.events import DemandResponse
from pipeline.kafka.compacted import publish_latest, read_latest
from pipeline.kafka.topics import DR
from pipeline.settings import Settings


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
    return publish_latest(
        settings, DR, ((e, None) if isinstance(e, str) else (e.id, e) for e in events)
    )


def read_events(settings: Settings) -> DrMap:
    """The events as the workers see them."""
    events, invalid = read_latest(settings, DR, DemandResponse)
    return DrMap(events, len(invalid))
