"""``megawatch db migrate``, ``megawatch db status`` and ``megawatch sql``.

Heavy imports (clickhouse-connect, chDB, pandas) happen inside the commands.
:func:`render_frame` is the one place that turns a query result into table, csv or json
text; other commands that print query results use it too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from pipeline.cli.common import format_option, settings_from

if TYPE_CHECKING:
    import pandas as pd

    from pipeline.store import MigrationStatus, Store

_SIZE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


@click.group()
def db() -> None:
    """Manage the ClickHouse store (MEGAWATCH_CLICKHOUSE_DSN): migrations and status."""


@db.command()
def migrate() -> None:
    """Apply pending sql/migrations and set table TTLs from the retention settings."""
    from pipeline.store import open_store

    with open_store(settings_from()) as store:
        applied = store.migrate(reconcile=False)
        changes = store.reconcile_ttl()
        for migration in applied:
            click.echo(f"applied {migration.filename} ({len(migration.statements())} statements)")
        for change in changes:
            click.echo(f"TTL of {change.table}: {change.old_days} -> {change.new_days} days "
                       f"({change.setting})")
        if not applied and not changes:
            total = len(store.migration_status().applied)
            click.echo(f"store {store.display} is up to date ({total} migrations applied)")
        else:
            click.echo(f"store {store.display} migrated")


@db.command()
def status() -> None:
    """Show applied and pending migrations, and each table's rows and size."""
    from pipeline.store import open_store

    with open_store(settings_from()) as store:
        kind = "embedded chDB" if store.embedded else "ClickHouse server"
        click.echo(f"store: {store.display} ({kind} {store.server_version()})")
        _echo_migrations(store.migration_status())
        _echo_tables(store)


def _echo_migrations(state: MigrationStatus) -> None:
    click.echo(f"migrations: {len(state.applied)} applied, {len(state.pending)} pending")
    for record in state.applied:
        click.echo(f"  {record.version:03d}_{record.name:<28} applied "
                   f"{record.applied_at.strftime('%Y-%m-%dT%H:%M:%SZ')}")
    for migration in state.pending:
        click.echo(f"  {migration.version:03d}_{migration.name:<28} pending")
    for record in state.unknown:
        click.echo(f"  {record.version:03d}_{record.name:<28} applied, but unknown to this "
                   "megawatch (a newer version migrated this store)")


def _echo_tables(store: Store) -> None:
    frame = store.query_df(
        "SELECT name AS table, engine, total_rows AS rows, total_bytes AS bytes, "
        "extract(engine_full, 'TTL .*toIntervalDay\\((\\d+)\\)') AS ttl_days "
        "FROM system.tables WHERE database = currentDatabase() ORDER BY name"
    )
    if frame.empty:
        click.echo("tables: none (run `megawatch db migrate`)")
        return
    frame["size"] = [_size(value) for value in frame.pop("bytes")]
    frame["ttl"] = [f"{days} d" if days else "" for days in frame.pop("ttl_days")]
    click.echo("tables:")
    click.echo(render_frame(frame, "table"))


@click.command()
@click.argument("query")
@format_option
def sql(query: str, fmt: str) -> None:
    """Run QUERY on the store and print the result (times as ISO-8601 UTC).

    \b
    Example:
      megawatch sql "SELECT site, max(total_w) FROM site_power GROUP BY site"
    """
    from pipeline.store.reader import read_query

    frame = read_query(settings_from(), query)
    text = render_frame(frame, fmt)
    if text:
        click.echo(text)


def render_frame(frame: pd.DataFrame, fmt: str) -> str:
    """A query result as ``table`` (aligned text), ``csv`` or ``json`` (list of records).

    Times are ISO-8601 UTC with milliseconds (``2026-01-02T03:04:05.678Z``), dates
    ``YYYY-MM-DD``; arrays, maps and tuples print as JSON.
    """
    if len(frame.columns) == 0:  # a statement without a result (DDL, INSERT)
        return "[]" if fmt == "json" else ""
    if fmt == "json":
        return str(_with_dates(frame).to_json(orient="records", date_format="iso",
                                              date_unit="ms", default_handler=str))
    plain = _plain(frame)
    if fmt == "csv":
        return str(plain.to_csv(index=False)).rstrip("\n")
    return _aligned(plain)


def _aligned(frame: pd.DataFrame) -> str:
    """Columns padded to their widest value: numbers to the right, text to the left."""
    import pandas as pd

    columns = []
    for name in frame.columns:
        cells = [str(name)] + ["" if pd.isna(v) else str(v) for v in frame[name]]
        width = max(len(cell) for cell in cells)
        numeric = pd.api.types.is_numeric_dtype(frame[name].dtype)
        columns.append([c.rjust(width) if numeric else c.ljust(width) for c in cells])
    return "\n".join("  ".join(row).rstrip() for row in zip(*columns, strict=True))


def _with_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """Date columns (naive, all midnight) as YYYY-MM-DD strings; the rest unchanged."""
    import pandas as pd

    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if pd.api.types.is_datetime64_dtype(column.dtype) and not isinstance(
            column.dtype, pd.DatetimeTZDtype
        ):
            values = column.dropna()
            if (values == values.dt.normalize()).all():
                out[name] = column.dt.strftime("%Y-%m-%d")
    return out


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Every value as text for csv and table output."""
    import pandas as pd

    out = _with_dates(frame)
    for name in out.columns:
        column = out[name]
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            text = column.dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S.%f")
            out[name] = text.str[:-3] + "Z"
        elif column.dtype == object:
            out[name] = [_scalar_text(value) for value in column]
    return out


def _scalar_text(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, tuple, dict)):
        import orjson

        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY, default=str).decode()
    return value


def _size(value: Any) -> str:
    import pandas as pd

    if pd.isna(value):
        return ""
    size = float(value)
    for unit in _SIZE_UNITS:
        if size < 1024 or unit == _SIZE_UNITS[-1]:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""
