"""Read queries for the CLI (``megawatch sql``, ``query``, ``alerts list``...).

Every process reaches the store the same way (the embedded one through its store
server), so a read simply opens the store. Reads run bounded (``read_only``); a query a
user typed (``untrusted``) must first pass :func:`pipeline.store.guard.checked_read`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pipeline.errors import QueryError, StoreError
from pipeline.store.sql_errors import explain_sql_error

if TYPE_CHECKING:
    import pandas as pd

    from pipeline.settings import Settings


def read_query(
    settings: Settings,
    sql: str,
    params: dict[str, Any] | None = None,
    *,
    untrusted: bool = False,
) -> pd.DataFrame:
    """Run a read query on the store; ``untrusted`` SQL is checked first."""
    from pipeline.store import open_store
    from pipeline.store.guard import checked_read

    require_store(settings)
    typed = sql  # errors point into the text the user wrote
    try:
        with open_store(settings) as store:
            if untrusted:
                try:
                    sql = checked_read(store, sql, params)
                except QueryError as exc:
                    raise QueryError(explain_sql_error(str(exc), typed)) from exc
            try:
                frame = store.query_df(sql, params, read_only=True)
                return with_header(store, frame, sql, params)
            except StoreError as exc:
                explained = explain_sql_error(str(exc), typed, _tables(store))
                raise type(exc)(explained) from exc
    except StoreError as exc:
        raise type(exc)(store_hint(str(exc))) from exc


def with_header(
    store: Any, frame: pd.DataFrame, sql: str, params: dict[str, Any] | None
) -> pd.DataFrame:
    """``frame``, or when the result is empty (clickhouse-connect then gives a frame
    without columns) an empty frame with the query's columns, so that an empty result
    still shows its header. ``DESCRIBE`` plans the query without running it; a
    statement that cannot be described (SHOW, EXPLAIN) stays without columns."""
    import pandas as pd

    if len(frame.columns):
        return frame
    try:
        rows = store.query_rows(f"DESCRIBE TABLE ({sql.strip().rstrip(';')})", params)
    except StoreError:
        return frame
    return pd.DataFrame(columns=[str(row[0]) for row in rows])


def require_store(settings: Settings) -> None:
    """StoreError when the embedded store's directory does not exist: a read would
    create it (and start its server) only to find no tables, so it says so instead."""
    from pipeline.store.connection import parse_target

    path = parse_target(settings).path
    if path is not None and not path.is_dir():
        raise StoreError(
            f"there is no store yet at {path} (MEGAWATCH_DATA_DIR, MEGAWATCH_CLICKHOUSE_DSN): "
            "`megawatch demo` or `megawatch worker` creates and fills it, "
            "`megawatch db migrate` creates it empty"
        )


def _tables(store: Any) -> list[str] | None:
    """The store's tables, to tell a typo from a store that was never migrated."""
    try:
        rows = store.query_rows("SELECT name FROM system.tables WHERE database = currentDatabase()")
    except StoreError:
        return None
    return [str(row[0]) for row in rows]


def store_hint(message: str) -> str:
    """Point at the fix for the common first-run error: tables not created yet (unless
    :func:`explain_sql_error` has already said what the store holds)."""
    explained = "(tables: " in message or "`megawatch db" in message
    if ("UNKNOWN_TABLE" in message or "Unknown table" in message) and not explained:
        return f"{message} (create the tables with `megawatch db migrate`)"
    return message


def settings_of_child(env: Mapping[str, str]) -> Settings:
    """The settings a child process started with ``env`` builds (its MEGAWATCH_* win)."""
    from pipeline.settings import ENV_PREFIX, Settings, load_settings

    fields = {
        name[len(ENV_PREFIX) :].lower(): value
        for name, value in env.items()
        if name.startswith(ENV_PREFIX) and name[len(ENV_PREFIX) :].lower() in Settings.model_fields
    }
    return load_settings(**fields)


def read_split(settings: Settings, sql: str, params: dict[str, Any] | None = None) -> Any:
    """A read query as ``{"columns": [...], "data": [[...]]}``, times as ISO-8601 text
    (what the worker's old ``/api/sql`` answered; the demo and benchmarks read this)."""
    import json

    frame = read_query(settings, sql, params)
    return json.loads(frame.to_json(orient="split", date_format="iso", index=False))
