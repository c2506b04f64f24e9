"""Readings that came through the gateway are stored once per identity.

The offset ledger (:mod:`pipeline.worker.ledger`) stops a *redelivered* message from
being stored twice. A retried gateway request is another case: Prometheus (or an
OpenTelemetry exporter) sends the same samples again after a 5xx or a dropped
connection, and the gateway publishes them again as new messages, at new offsets. So a
row whose message carried the header ``megawatch-via: gateway`` (its ``via`` column) is
stored only if no row of the same identity is stored already, or earlier in the same
batch: the reading of one entity at one event time,

* ``rack_power``: (site, rack, ts); ``gpu_samples``: (site, rack, host, gpu, ts);
* ``link_samples``: (site, link, ts).

Both copies of a retried request are keyed by their site, so they land in the same
partition, hence the same worker, whose flushes run one at a time: the check and the
insert cannot interleave with another copy's. Rows from agents (``via`` empty) are
stored as before, unchecked. Runs in the sink's flush (``before_insert``), in its thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipeline.store.columns import rows_at

__all__ = ["IDENTITIES", "VIA_GATEWAY", "VIA_HEADER", "via_of", "without_stored_identities"]

VIA_HEADER = "megawatch-via"
VIA_GATEWAY = "gateway"
#: table -> the columns that identify a reading (ts last)
IDENTITIES: dict[str, tuple[str, ...]] = {
    "rack_power": ("site", "rack", "ts"),
    "gpu_samples": ("site", "rack", "host", "gpu", "ts"),
    "link_samples": ("site", "link", "ts"),
}
#: stamps further apart than this are looked up in separate queries (a retried old
#: request next to live data would otherwise read everything in between)
SPAN_MS = 60_000


def via_of(headers: Any) -> str:
    """The ``via`` of a message from its Kafka headers (a list of pairs or a mapping)."""
    if not headers:
        return ""
    pairs = headers.items() if hasattr(headers, "items") else headers
    for name, value in pairs:
        if name == VIA_HEADER:
            return bytes(value).decode("ascii", errors="replace")[:32]
    return ""


def without_stored_identities(table: str) -> Any:
    """The sink's ``before_insert`` for ``table``: gateway rows already stored dropped."""
    names = IDENTITIES[table]

    def prepare(
        writer: Any, column_names: tuple[str, ...], columns: Sequence[Sequence[Any]]
    ) -> Sequence[Sequence[Any]]:
        at = {name: i for i, name in enumerate(column_names)}
        via = columns[at["via"]]
        checked = [i for i, v in enumerate(via) if v == VIA_GATEWAY]
        if not checked:
            return columns
        keys = list(zip(*(columns[at[n]] for n in names), strict=True))
        seen = _stored(writer, table, names, [keys[i] for i in checked])
        keep: list[int] = []
        for i, key in enumerate(keys):
            if via[i] == VIA_GATEWAY:
                if key in seen:
                    continue
                seen.add(key)
            keep.append(i)
        if len(keep) == len(keys):
            return columns
        return rows_at(columns, keep)

    return prepare


def _stored(
    writer: Any, table: str, names: tuple[str, ...], keys: list[tuple[Any, ...]]
) -> set[tuple[Any, ...]]:
    """Identities among ``keys`` (and around them) that the table holds."""
    stamps: dict[str, list[int]] = {}
    for key in keys:
        stamps.setdefault(key[0], []).append(key[-1])
    selected = ", ".join(names[:-1])
    sql = (
        f"SELECT {selected}, toUnixTimestamp64Milli(ts) FROM {table} "
        "WHERE site = {site:String} AND ts BETWEEN fromUnixTimestamp64Milli({lo:Int64}, 'UTC') "
        "AND fromUnixTimestamp64Milli({hi:Int64}, 'UTC')"
    )
    stored: set[tuple[Any, ...]] = set()
    for site, site_stamps in stamps.items():
        for lo, hi in _spans(sorted(set(site_stamps))):
            rows = writer.query_rows(sql, {"site": site, "lo": lo, "hi": hi})
            stored.update((*row[:-1], int(row[-1])) for row in rows)
    return stored


def _spans(stamps: list[int]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for stamp in stamps:
        if spans and stamp - spans[-1][1] <= SPAN_MS:
            spans[-1] = (spans[-1][0], stamp)
        else:
            spans.append((stamp, stamp))
    return spans
