"""The ClickHouse store: one clickhouse-connect client behind a small, typed facade.

Every library error leaving a method is a :class:`StoreError` (or subclass) with one line
naming the store (DSN without password) and what failed. Queries bind values with
ClickHouse query parameters (``{name:Type}`` in the SQL, values in ``params``), never by
string formatting. Datetimes: send aware UTC datetimes or epoch milliseconds (a naive
datetime would be read in the engine's local time zone, so inserts refuse them);
``DateTime64(3, 'UTC')`` values come back as aware UTC datetimes, in rows and in pandas.

A Store may be shared by threads: the HTTP client runs without a session (the embedded
store is reached over HTTP too, through its store server), so statements run in parallel.
When the embedded store's server goes away (stopped, idle, killed), the failing call
raises a one-line :class:`StoreError` and the next call connects to a new server.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from pipeline.errors import MegawatchError, StoreError
from pipeline.settings import Settings
from pipeline.store import migrations as mig
from pipeline.store.columns import Chunked, SqlRunner
from pipeline.store.connection import StoreTarget, open_client, parse_target
from pipeline.store.messages import one_line
from pipeline.store.native import encode_block, insert_native
from pipeline.store.retention import TtlChange, reconcile_ttl

if TYPE_CHECKING:
    import pandas as pd
    from clickhouse_connect.driver.client import Client

log = logging.getLogger(__name__)


#: Sent with every insert: settings whose defaults differ between the supported ClickHouse
#: versions. On 24.8 a retried insert (same deduplication token) is dropped from its table
#: but counted again by the materialized views behind it unless
#: deduplicate_blocks_in_dependent_materialized_views is on (26.9 has it on by default).
INSERT_SETTINGS: dict[str, Any] = {
    "insert_deduplicate": 1,
    "deduplicate_blocks_in_dependent_materialized_views": 1,
}


class Store(SqlRunner):
    """An open ClickHouse store (embedded chDB or a server). Use :func:`open_store`.

    It implements the protocols of :mod:`pipeline.store.columns`, which its users ask
    for (said here so that mypy checks it)."""

    def __init__(self, client: Client, target: StoreTarget, settings: Settings) -> None:
        self._client: Client | None = client
        self.target = target
        self.settings = settings
        # (table, column names) -> ClickHouse type names: saves clickhouse-connect a
        # DESCRIBE per insert (about a quarter of a small insert's time on chDB).
        self._insert_types: dict[tuple[str, tuple[str, ...]], list[str]] = {}
        self._closed = False
        self._reconnect = threading.Lock()

    # --- identity ------------------------------------------------------------------
    @property
    def display(self) -> str:
        """The store for messages: the DSN without its password."""
        return self.target.display

    @property
    def embedded(self) -> bool:
        return self.target.embedded

    @property
    def data_dir(self) -> Path | None:
        return self.target.path

    def __repr__(self) -> str:
        return f"Store({self.display})"

    # --- statements ----------------------------------------------------------------
    def command(
        self, sql: str, params: dict[str, Any] | None = None, settings: dict[str, Any] | None = None
    ) -> Any:
        """Run a statement (DDL, ALTER, INSERT ... SELECT); returns ClickHouse's summary
        or the single value a scalar query yields."""
        with self._translating("statement"):
            return self._live().command(sql, parameters=params, settings=settings)

    def query_rows(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """The result rows of a query, as tuples."""
        with self._translating("query"):
            rows = self._live().query(sql, parameters=params).result_rows
        return cast(list[tuple[Any, ...]], list(rows))  # result rows are tuples

    def query_df(
        self, sql: str, params: dict[str, Any] | None = None, *, read_only: bool = False
    ) -> pd.DataFrame:
        """The result of a query as a DataFrame; time-zone-aware columns are in UTC.

        ``read_only`` runs it with ClickHouse's ``readonly=2`` and the bounds of
        :func:`pipeline.store.guard.read_limits` (time, result size, memory): reads only,
        never long enough to hold the store (used for the CLI's queries).
        """
        import pandas as pd

        from pipeline.store.guard import read_limits

        settings = read_limits(self.settings) if read_only else None
        with self._translating("query"):
            frame = self._live().query_df(sql, parameters=params, settings=settings)
        for name in frame.columns:
            # Columns typed without a zone (now64(), DateTime) come back in the engine's
            # zone; one zone for every column keeps output and comparisons simple.
            if isinstance(frame[name].dtype, pd.DatetimeTZDtype):
                frame[name] = frame[name].dt.tz_convert("UTC")
        return frame

    def insert_columns(
        self,
        table: str,
        column_names: Sequence[str],
        columns: Sequence[Sequence[Any]],
        dedup_token: str | None = None,
    ) -> None:
        """Insert column-oriented data (``columns[i]`` holds the values of ``column_names[i]``).

        With ``dedup_token``, ClickHouse drops a later insert with the same token into the
        same table (within the table's ``non_replicated_deduplication_window`` of 1000
        inserts), materialized-view rollups included: retry a failed insert with the same
        token. Without one, an insert whose rows are identical to one of those recent
        inserts is dropped too (ClickHouse's content-hash deduplication).
        """
        if len(columns) != len(column_names):
            raise StoreError(
                f"insert into {table}: {len(column_names)} column names but {len(columns)} columns"
            )
        _refuse_naive_datetimes(table, column_names, columns)
        settings: dict[str, Any] = dict(INSERT_SETTINGS)
        if dedup_token:
            settings["insert_deduplication_token"] = dedup_token
        key = (table, tuple(column_names))
        # ValueError / TypeError / AttributeError: a value that does not fit its column
        # type (clickhouse-connect logs which column before it raises; a number in a
        # string column fails on its missing .encode)
        with self._translating(
            f"insert into {table}", also=(ValueError, TypeError, AttributeError)
        ):
            try:
                client, types = self._live(), self._column_types(*key)
                block = encode_block(column_names, types, columns)
                if block is not None:
                    insert_native(client, table, column_names, block, settings)
                else:  # a type or value the encoder leaves to clickhouse-connect
                    client.insert(
                        table,
                        data=[list(c) if isinstance(c, Chunked) else c for c in columns],
                        column_names=list(column_names),
                        column_type_names=types,
                        column_oriented=True,
                        settings=settings,
                    )
            except BaseException:
                self._insert_types.pop(key, None)  # the table may have changed: look again
                raise

    def _column_types(self, table: str, column_names: tuple[str, ...]) -> list[str]:
        key = (table, column_names)
        if key not in self._insert_types:
            quoted = ".".join(f"`{part}`" for part in table.split("."))
            described = {
                row[0]: row[1] for row in self._live().query(f"DESCRIBE TABLE {quoted}").result_rows
            }
            missing = [name for name in column_names if name not in described]
            if missing:
                raise StoreError(f"insert into {table}: no column(s) {', '.join(missing)}")
            self._insert_types[key] = [described[name] for name in column_names]
        return self._insert_types[key]

    # --- schema --------------------------------------------------------------------
    def migrate(
        self,
        migrations: Sequence[mig.Migration] | None = None,
        reconcile: bool = True,
        cluster: str | None = None,
    ) -> list[mig.Migration]:
        """Apply pending migrations (default: the bundled files), then reconcile TTLs with
        the retention settings unless ``reconcile`` is false; returns those applied.
        ``cluster`` applies their cluster form (:mod:`pipeline.store.cluster`)."""
        files = mig.load_migrations() if migrations is None else migrations
        self._insert_types.clear()
        database = str(self.query_rows("SELECT currentDatabase()")[0][0]) if cluster else None
        applied = mig.apply_pending(self, files, self.display, cluster=cluster, database=database)
        if reconcile:
            self.reconcile_ttl(cluster)
        return applied

    def migration_status(
        self, migrations: Sequence[mig.Migration] | None = None
    ) -> mig.MigrationStatus:
        """Applied, pending and unknown migrations (read-only)."""
        files = mig.load_migrations() if migrations is None else migrations
        return mig.plan(mig.read_history(self), files, self.display)

    def reconcile_ttl(self, cluster: str | None = None) -> list[TtlChange]:
        """Set each table's TTL to MEGAWATCH_RETENTION_DAYS / ..._ROLLUP_RETENTION_DAYS
        (on every node of ``cluster`` when given)."""
        return reconcile_ttl(self, self.settings, cluster)

    def server_version(self) -> str:
        return str(self.query_rows("SELECT version()")[0][0])

    # --- lifecycle -----------------------------------------------------------------
    def close(self) -> None:
        """Close the client (an embedded store's server stops once no client is left)."""
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            with self._translating("close"):
                client.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- internals -----------------------------------------------------------------
    def _live(self) -> Client:
        if self._client is None and not self._closed and self.embedded:
            with self._reconnect:  # the server went away: find or start the next one
                if self._client is None:
                    self._client = open_client(self.target, self.settings.store_idle_exit_s)
                    self._insert_types.clear()
        if self._client is None:
            raise StoreError(f"store {self.display} is closed")
        return self._client

    @contextlib.contextmanager
    def _translating(self, action: str, also: tuple[type[Exception], ...] = ()) -> Iterator[None]:
        from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError

        library_errors: tuple[type[Exception], ...] = (
            ClickHouseError,
            RuntimeError,
            OSError,
            *also,
        )
        try:
            yield
        except MegawatchError:
            raise
        except OperationalError as exc:
            if not self.embedded:
                raise StoreError(
                    f"{action} failed on {self.display}: {one_line(exc, self.target.secrets)}"
                ) from exc
            self._client = None  # the next call finds or starts the store server again
            raise StoreError(
                f"{action} failed on {self.display}: its store server stopped answering "
                "(it is started again on the next use)"
            ) from exc
        except library_errors as exc:
            raise StoreError(
                f"{action} failed on {self.display}: {one_line(exc, self.target.secrets)}"
            ) from exc


def open_store(settings: Settings) -> Store:
    """Open the store that ``MEGAWATCH_CLICKHOUSE_DSN`` names (a context manager)."""
    target = parse_target(settings)
    store = Store(open_client(target, settings.store_idle_exit_s), target, settings)
    log.info("opened store %s", target.display)
    return store


def _refuse_naive_datetimes(
    table: str, column_names: Sequence[str], columns: Sequence[Sequence[Any]]
) -> None:
    """Naive datetimes are stored as engine-local time: refuse them (first value only,
    so that the check costs nothing per row on the hot path)."""
    for name, values in zip(column_names, columns, strict=True):
        first = next(iter(values), None)
        if isinstance(first, datetime) and first.tzinfo is None:
            raise StoreError(
                f"insert into {table}: column {name} holds naive datetimes; "
                "send aware UTC datetimes or epoch milliseconds"
            )
