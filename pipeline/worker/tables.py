"""The worker's Faust tables: site specs, the job map and demand-response events (global),
durable alert states.

Site specs are keyed by site; alert states by the key of their alert book: the message
key for a shard's rack and link alerts (``SITE/SHARD``), the site for the alerts of its
site stage (a plain ``SITE`` key's book holds both). Faust derives a table's serializers
from its key and value types (bytes -> raw, anything else -> JSON), which is why the
types are set here rather than a schema.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import faust
from faust.tables.globaltable import GlobalTable

from pipeline.kafka.topics import DR, JOBS, SITES, SITES_PARTITIONS

RAW: dict[str, Any] = {
    "key_type": bytes,
    "value_type": bytes,
    "key_serializer": "raw",
    "value_serializer": "raw",
}


class SpecTable(GlobalTable):
    """A GlobalTable whose changelog is the contract's own ``control.sites`` topic.

    Faust's assignor looks a global table's changelog up by the table's *default*
    changelog name, and fails silently (the group never finishes joining) when the
    table reads another topic: this names the topic it really reads.
    """

    control_topic: ClassVar[str] = SITES

    def _changelog_topic_name(self) -> str:
        return self.control_topic


def spec_table(app: faust.App) -> Any:
    return app.tables.add(_control_table(app, SpecTable, "sites"))


class JobTable(SpecTable):
    """A GlobalTable of ``control.jobs`` that hands every record it applies (recovery and
    live updates alike: Faust applies both through :meth:`apply_changelog_batch`) to
    ``on_record(key, value)``: the job map indexes jobs by site and host as they come."""

    control_topic: ClassVar[str] = JOBS
    on_record: Callable[[str, bytes | None], None] = staticmethod(lambda key, value: None)

    def apply_changelog_batch(self, batch: Iterable[Any]) -> None:
        events = list(batch)
        super().apply_changelog_batch(events)
        for event in events:
            key = event.key
            if key is not None:
                self.on_record(bytes(key).decode("utf-8", errors="replace"), event.value)


def job_table(app: faust.App, on_record: Callable[[str, bytes | None], None]) -> Any:
    """control.jobs, read whole by every worker like control.sites."""
    return _handing_on(app, JobTable, "jobs", on_record)


class DrTable(JobTable):
    """``control.dr``, read whole by every worker, each record handed on as it comes."""

    control_topic: ClassVar[str] = DR


def dr_table(app: faust.App, on_record: Callable[[str, bytes | None], None]) -> Any:
    """Demand-response events (pipeline.core.wave.demand.DemandBook reads them)."""
    return _handing_on(app, DrTable, "dr", on_record)


def _handing_on(
    app: faust.App,
    table_class: type[JobTable],
    name: str,
    on_record: Callable[[str, bytes | None], None],
) -> Any:
    table = _control_table(app, table_class, name)
    table.on_record = on_record
    return app.tables.add(table)


def _control_table(app: faust.App, table_class: type[SpecTable], name: str) -> Any:
    """A global table of a compacted control topic (not added to the app yet)."""
    # One partition and a recovery buffer of one: Faust's documented remedy for global
    # tables that never finish recovering when several workers share them.
    return table_class(
        app,
        name=name,
        beacon=app.tables.beacon,
        partitions=SITES_PARTITIONS,
        changelog_topic=app.topic(table_class.control_topic, partitions=SITES_PARTITIONS, **RAW),
        key_type=bytes,
        value_type=bytes,
        is_global=True,
        standby_buffer_size=1,
        recovery_buffer_size=1,
    )


def alert_state_table(app: faust.App, partitions: int) -> Any:
    """Durable alert states, one small JSON dict per key, written on fire and resolve.

    Written with the producer's partitioner (``use_partitioner``: from timers too), so
    the changelog partition of a key is the partition of its messages: same key, same
    murmur2, same partition count. A shard's states land on its telemetry partition, a
    site stage's on the partition of the site's plain key (its partials topic partition),
    whichever message or tick wrote them: a worker recovers exactly the keys it owns.
    """
    return app.Table("alert_states", use_partitioner=True, key_type=bytes, partitions=partitions)
