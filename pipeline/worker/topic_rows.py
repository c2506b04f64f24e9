"""Rows of the tables fed from megawatch's own topics (alerts, telemetry.deadletter).

The records on these topics were written by megawatch itself, so they are parsed with
the same models; a record that does not parse is reported by the caller, not stored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from pipeline.events import Alert, DeadLetter

ALERT_COLUMNS = (
    "fingerprint",
    "seq",
    "rule",
    "severity",
    "status",
    "site",
    "link",
    "peer_site",
    "rack",
    "value",
    "threshold",
    "starts_at",
    "ends_at",
    "forecast_at",
    "summary",
    "test",
    "kafka_partition",
    "kafka_offset",
)
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
        partition,
        offset,
    )
