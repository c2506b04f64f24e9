"""Schema migrations: ``sql/migrations/NNN_name.sql`` files applied in order.

Each applied file is recorded in ``megawatch_migrations`` (version, name, checksum,
applied_at); applying again is a no-op, and a recorded file whose text changed since is a
:class:`MigrationError` naming it (a change goes into a new file). A file holds one or
more statements, each ending with ``;`` at the end of a line. ClickHouse DDL is not
transactional, so the files use ``IF NOT EXISTS``: a file that failed half-way can be
fixed and applied again.

The files ship inside the package (``pipeline/_sql`` is the repository's ``sql/``) and
are read with :mod:`importlib.resources`, so an installed wheel finds them too.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.abc import Traversable
from importlib.resources import files
from pathlib import Path

from pipeline.errors import MigrationError, StoreError
from pipeline.store.columns import SqlRunner

log = logging.getLogger(__name__)

HISTORY_TABLE = "megawatch_migrations"
HISTORY_DDL = f"""
CREATE TABLE IF NOT EXISTS {HISTORY_TABLE}
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY version
COMMENT 'Schema migrations applied by megawatch db migrate'
"""
_FILE_NAME = re.compile(r"^(\d{3,})_([A-Za-z0-9_]+)\.sql$")
_STATEMENT_END = re.compile(r";[ \t]*(?:\r?\n|$)")
_COMMENT_LINE = re.compile(r"^\s*--.*$", re.MULTILINE)


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    filename: str
    sql: str = field(repr=False)

    @property
    def checksum(self) -> str:
        """sha256 of the text with line endings normalized (a CRLF checkout is no change)."""
        return hashlib.sha256(self.sql.replace("\r\n", "\n").encode()).hexdigest()

    def statements(self) -> list[str]:
        return split_statements(self.sql)


@dataclass(frozen=True)
class AppliedMigration:
    """A row of the history table."""

    version: int
    name: str
    checksum: str
    applied_at: datetime


@dataclass(frozen=True)
class MigrationStatus:
    applied: list[AppliedMigration]
    pending: list[Migration]
    unknown: list[AppliedMigration]  # recorded, but no such file here (a newer megawatch?)


def split_statements(sql: str) -> list[str]:
    """The statements of a file: split at ``;`` that ends a line, comment-only parts dropped."""
    parts = (part.strip() for part in _STATEMENT_END.split(sql))
    return [part for part in parts if _COMMENT_LINE.sub("", part).strip()]


def bundled_migrations() -> Traversable:
    return files("pipeline").joinpath("_sql", "migrations")


def load_migrations(directory: Traversable | Path | None = None) -> list[Migration]:
    """The migration files of ``directory`` (default: the bundled ones), by version."""
    folder = directory if directory is not None else bundled_migrations()
    if not folder.is_dir():
        raise MigrationError(
            f"migrations directory {folder} not found (is megawatch installed with its sql/ files?)"
        )
    migrations: dict[int, Migration] = {}
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(entry.name)
        if not match:
            raise MigrationError(f"migration file {entry.name}: name must be NNN_name.sql")
        version = int(match.group(1))
        if version in migrations:
            raise MigrationError(
                f"migration files {migrations[version].filename} and "
                f"{entry.name} share version {version}"
            )
        migrations[version] = Migration(version, match.group(2), entry.name, entry.read_text())
    return [migrations[version] for version in sorted(migrations)]


def read_history(store: SqlRunner) -> list[AppliedMigration]:
    """The recorded migrations; empty when the history table does not exist yet."""
    exists = store.query_rows(
        "SELECT count() FROM system.tables "
        "WHERE database = currentDatabase() AND name = {t:String}",
        {"t": HISTORY_TABLE},
    )[0][0]
    if not exists:
        return []
    rows = store.query_rows(
        f"SELECT version, name, checksum, applied_at FROM {HISTORY_TABLE} "
        "ORDER BY version, applied_at LIMIT 1 BY version"
    )
    return [AppliedMigration(*row) for row in rows]


def plan(
    history: Iterable[AppliedMigration], migrations: Sequence[Migration], where: str
) -> MigrationStatus:
    """Compare the history with the files; a changed applied file is a MigrationError."""
    by_version = {m.version: m for m in migrations}
    applied, unknown = [], []
    for record in history:
        migration = by_version.pop(record.version, None)
        if migration is None:
            unknown.append(record)
            continue
        if migration.checksum != record.checksum:
            raise MigrationError(
                f"migration {migration.filename} was changed after it was applied to {where} "
                f"(checksum {record.checksum[:12]} recorded, {migration.checksum[:12]} now): "
                "restore the file and put the change in a new migration"
            )
        applied.append(record)
    pending = sorted(by_version.values(), key=lambda m: m.version)
    return MigrationStatus(applied=applied, pending=pending, unknown=unknown)


def apply_pending(
    store: SqlRunner,
    migrations: Sequence[Migration],
    where: str,
    *,
    cluster: str | None = None,
    database: str | None = None,
) -> list[Migration]:
    """Apply the files not yet recorded, in order; returns those applied.

    With ``cluster`` (``megawatch db migrate --cluster NAME``) each file is applied in its
    cluster form (:mod:`pipeline.store.cluster`: Replicated local tables, Distributed
    tables, ``ON CLUSTER``) and recorded in a ledger replicated to every node; the
    checksums are those of the files, so the ledger reads the same in both forms.
    """
    check_ledger_form(store, cluster, where)
    if cluster is None:
        store.command(HISTORY_DDL)
        forms = {m.version: m.statements() for m in migrations}
    else:
        from pipeline.store.cluster import history_ddl, render_cluster

        store.command(history_ddl(cluster))
        forms = render_cluster(migrations, cluster, database or "default")
    status = plan(read_history(store), migrations, where)
    for record in status.unknown:
        log.warning(
            "store %s has migration %03d_%s applied that this megawatch does not know",
            where,
            record.version,
            record.name,
        )
    for migration in status.pending:
        _apply_one(store, migration, forms[migration.version])
    return status.pending


def check_ledger_form(store: SqlRunner, cluster: str | None, where: str) -> None:
    """A store migrated in one form is not migrated in the other: that would mix
    replicated and single-node tables (a MigrationError says which flag to use)."""
    rows = store.query_rows(
        "SELECT engine FROM system.tables WHERE database = currentDatabase() AND name = {t:String}",
        {"t": HISTORY_TABLE},
    )
    if not rows:
        return
    replicated = str(rows[0][0]).startswith("Replicated")
    if replicated and cluster is None:
        raise MigrationError(
            f"store {where} was migrated with --cluster (its {HISTORY_TABLE} is replicated): "
            "run `megawatch db migrate --cluster NAME` (or set MEGAWATCH_CLICKHOUSE_CLUSTER)"
        )
    if cluster is not None and not replicated:
        raise MigrationError(
            f"store {where} was migrated as a single node: `--cluster {cluster}` cannot "
            "convert it; migrate a fresh cluster, or run `megawatch db migrate` without it"
        )


def _apply_one(store: SqlRunner, migration: Migration, statements: Sequence[str]) -> None:
    for number, statement in enumerate(statements, start=1):
        try:
            store.command(statement)
        except StoreError as exc:
            raise MigrationError(
                f"migration {migration.filename} failed at statement {number} of "
                f"{len(statements)} ({exc}); the statements before it stay applied: fix the "
                "file and run `megawatch db migrate` again"
            ) from exc
    store.insert_columns(
        HISTORY_TABLE,
        ["version", "name", "checksum", "applied_at"],
        [[migration.version], [migration.name], [migration.checksum], [datetime.now(UTC)]],
    )
    log.info("applied migration %s (%d statements)", migration.filename, len(statements))
