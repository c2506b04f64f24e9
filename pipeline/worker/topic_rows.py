"""Rows of the tables fed from megawatch's own topics (alerts, telemetry.deadletter).

The records on these topics were written by megawatch itself, so they are parsed with
the same models; a record that does not parse is reported by the caller, not stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from pipeline.events import Alert, DeadLetter
from pipeline.store.columns import rows_at

DEAD_LETTER_COLUMNS = (
    "received_at",
    "topic",
    "partition",
    "offset",
    "index",
    "reason_code",
    "reason",
    "key",
    "raw",
    "raw_encoding",
    "raw_size",
    "raw_sha256",
    "kafka_partition",
    "kafka_offset",
)


def alert_row(value: bytes | None, partition: int, offset: int) -> tuple[Any, ...] | None:
    try:
        a = Alert.model_validate_json(value or b"")
    except ValidationError:
        return None
    return (
        a.fingerprint,
        a.seq,
        a.rule,
        a.severity.value,
        a.status.value,
        a.site,
        a.link or "",
        a.peer_site or "",
        a.rack or "",
        a.domain or "",
        a.value,
        a.threshold,
        a.starts_at,
        a.ends_at,
        a.forecast_at,
        a.summary,
        int(a.test),
        partition,
        offset,
    )


def dead_letter_row(value: bytes | None, partition: int, offset: int) -> tuple[Any, ...] | None:
    """A dead_letters row; ``partition``/``offset`` are those of the record on
    telemetry.deadletter (the record names the offending message's own)."""
    try:
        d = DeadLetter.model_validate_json(value or b"")
    except ValidationError:
        return None
    index = -1 if d.index is None else d.index
    received = d.received_at or datetime.now(UTC)
    return (
        received,
        d.topic,
        d.partition,
        d.offset,
        index,
        d.reason_code or "",
        d.reason,
        d.key or "",
        d.raw,
        d.raw_encoding,
        d.raw_size or 0,
        d.raw_sha256 or "",
        partition,
        offset,
    )


def without_stored_dead_letters(
    writer: Any, column_names: tuple[str, ...], columns: Sequence[Sequence[Any]]
) -> list[list[Any]]:
    """The dead-letter rows of a batch minus those whose identity is stored already (or
    repeated within the batch): a restart re-publishes the dead letters of messages it
    processes again. Identity: (kafka_cluster, topic, partition, offset, index)."""
    at = {name: i for i, name in enumerate(column_names)}
    key_columns = [
        columns[at[n]] for n in ("kafka_cluster", "topic", "partition", "offset", "index")
    ]
    identities = [
        (str(c), str(t), int(p), int(o), int(i)) for c, t, p, o, i in zip(*key_columns, strict=True)
    ]
    stored: set[tuple[Any, ...]] = set()
    groups: dict[tuple[Any, Any, Any], list[int]] = {}
    for cluster, topic, partition, offset, _ in identities:
        groups.setdefault((cluster, topic, partition), []).append(offset)
    for (cluster, topic, partition), offsets in groups.items():
        # scalar parameters only: one range per source partition
        rows = writer.query_rows(
            "SELECT kafka_cluster, topic, `partition`, `offset`, `index` FROM dead_letters "
            "WHERE kafka_cluster = {c:String} AND topic = {t:String} "
            "AND `partition` = {p:UInt16} AND `offset` BETWEEN {lo:UInt64} AND {hi:UInt64}",
            {"c": cluster, "t": topic, "p": partition, "lo": min(offsets), "hi": max(offsets)},
        )
        stored.update((str(c), str(t), int(p), int(o), int(i)) for c, t, p, o, i in rows)
    keep: list[int] = []
    for position, identity in enumerate(identities):
        if identity not in stored:
            stored.add(identity)
            keep.append(position)
    return rows_at(columns, keep)
