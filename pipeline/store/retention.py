"""Keep each table's TTL equal to the retention settings.

Migrations create tables with default TTLs (90 days raw, 730 days rollups). A table says
which setting governs it with ``retention: MEGAWATCH_...`` in its COMMENT, and its TTL has
the form ``toDateTime(<time column>) + toIntervalDay(<days>)``. :func:`reconcile_ttl`
alters only the tables whose days differ, with ``materialize_ttl_after_modify = 0`` so
that shortening the retention does not rewrite every old part synchronously: expired rows
go at the next merges (``ALTER TABLE ... MATERIALIZE TTL`` forces it).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pipeline.settings import Settings

log = logging.getLogger(__name__)

_RETENTION_NOTE = re.compile(r"retention:\s*(MEGAWATCH_[A-Z_]+)")
_DAY_TTL = re.compile(r"\bTTL toDateTime\(`?(\w+)`?\) \+ toIntervalDay\((\d+)\)")


class CommandRunner(Protocol):
    def command(
        self, sql: str, params: dict[str, Any] | None = None, settings: dict[str, Any] | None = None
    ) -> Any: ...

    def query_rows(
        self, sql: str, params: dict[str, Any] | None = None
    ) -> list[tuple[Any, ...]]: ...


@dataclass(frozen=True)
class TtlChange:
    table: str
    column: str
    setting: str
    old_days: int
    new_days: int

    @property
    def ttl_expression(self) -> str:
        return f"toDateTime(`{self.column}`) + toIntervalDay({self.new_days})"


def retention_days(settings: Settings) -> dict[str, int]:
    """Setting name -> days, for the names that table comments refer to."""
    return {
        "MEGAWATCH_RETENTION_DAYS": settings.retention_days,
        "MEGAWATCH_ROLLUP_RETENTION_DAYS": settings.rollup_retention_days,
        "MEGAWATCH_WAVE_SAMPLE_RETENTION_DAYS": settings.wave_sample_retention_days,
    }


def plan_ttl_changes(
    tables: Iterable[tuple[str, str, str]], days_by_setting: Mapping[str, int]
) -> list[TtlChange]:
    """The changes needed, from (name, engine_full, comment) rows of system.tables."""
    changes = []
    for name, engine_full, comment in tables:
        note = _RETENTION_NOTE.search(comment or "")
        if note is None:
            continue
        setting = note.group(1)
        if setting not in days_by_setting:
            log.warning(
                "table %s names unknown retention setting %s; TTL left as is", name, setting
            )
            continue
        ttl = _DAY_TTL.search(engine_full)
        if ttl is None:
            log.warning(
                "table %s has no TTL of the form toDateTime(col) + toIntervalDay(n); "
                "%s not applied",
                name,
                setting,
            )
            continue
        column, days = ttl.group(1), int(ttl.group(2))
        wanted = days_by_setting[setting]
        if days != wanted:
            changes.append(TtlChange(name, column, setting, days, wanted))
    return changes


def reconcile_ttl(
    store: CommandRunner, settings: Settings, cluster: str | None = None
) -> list[TtlChange]:
    """Alter the TTL of every table of the current database that differs from settings.

    On a cluster the TTLs live on the local tables (they carry the retention notes) and
    are altered ``ON CLUSTER``; the nodes were created by the same statements, so one
    node's system.tables speaks for all.
    """
    rows = store.query_rows(
        "SELECT name, engine_full, comment FROM system.tables "
        "WHERE database = currentDatabase() AND comment LIKE '%retention:%' ORDER BY name"
    )
    changes = plan_ttl_changes(rows, retention_days(settings))
    on_cluster = f" ON CLUSTER `{cluster}`" if cluster else ""
    for change in changes:
        store.command(
            f"ALTER TABLE `{change.table}`{on_cluster} MODIFY TTL {change.ttl_expression}",
            settings={"materialize_ttl_after_modify": 0},
        )
        log.info(
            "TTL of %s%s: %d -> %d days (%s)",
            change.table,
            f" on cluster {cluster}" if cluster else "",
            change.old_days,
            change.new_days,
            change.setting,
        )
    return changes
