"""``megawatch db migrate``, ``megawatch db status`` and ``megawatch sql``.

Heavy imports (clickhouse-connect, chDB, pandas) happen inside the commands.
Query results are printed through :func:`pipeline.analytics.render.render_frame`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from pipeline.analytics.render import render_frame
from pipeline.cli.common import echo_frame, format_option, settings_from
from pipeline.errors import QueryError

if TYPE_CHECKING:
    from pipeline.store import MigrationStatus, Store

_SIZE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


@click.group()
def db() -> None:
    """Manage the ClickHouse store (MEGAWATCH_CLICKHOUSE_DSN): migrations and status."""


@db.command()
@click.option(
    "--cluster",
    metavar="NAME",
    default=None,
    help="A ClickHouse cluster (remote_servers): Replicated + Distributed tables, DDL ON "
    "CLUSTER. Default: MEGAWATCH_CLICKHOUSE_CLUSTER.",
)
def migrate(cluster: str | None) -> None:
    """Apply pending sql/migrations and set table TTLs from the retention settings."""
    from pipeline.store import open_store

    settings = settings_from()
    cluster = cluster or settings.clickhouse_cluster
    with open_store(settings) as store:
        applied = store.migrate(reconcile=False, cluster=cluster)
        changes = store.reconcile_ttl(cluster)
        for migration in applied:
            click.echo(f"applied {migration.filename} ({len(migration.statements())} statements)")
        for change in changes:
            click.echo(
                f"TTL of {change.table}: {change.old_days} -> {change.new_days} days "
                f"({change.setting})"
            )
        if not applied and not changes:
            total = len(store.migration_status().applied)
            click.echo(f"store {store.display} is up to date ({total} migrations applied)")
        else:
            click.echo(f"store {store.display} migrated")


@db.command()
def status() -> None:
    """Show applied and pending migrations, and each table's rows and size."""
    from pipeline.store import open_store
    from pipeline.store.reader import require_store

    settings = settings_from()
    require_store(settings)  # a status read does not create the store
    with open_store(settings) as store:
        kind = "embedded chDB" if store.embedded else "ClickHouse server"
        click.echo(f"store: {store.display} ({kind} {store.server_version()})")
        _echo_migrations(store.migration_status())
        _echo_tables(store)


def _echo_migrations(state: MigrationStatus) -> None:
    click.echo(f"migrations: {len(state.applied)} applied, {len(state.pending)} pending")
    for record in state.applied:
        click.echo(
            f"  {record.version:03d}_{record.name:<28} applied "
            f"{record.applied_at.strftime('%Y-%m-%dT%H:%M:%SZ')}"
        )
    for migration in state.pending:
        click.echo(f"  {migration.version:03d}_{migration.name:<28} pending")
    for record in state.unknown:
        click.echo(
            f"  {record.version:03d}_{record.name:<28} applied, but unknown to this "
            "megawatch (a newer version migrated this store)"
        )


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
@click.option(
    "--param",
    "-p",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A value for {NAME:Type} in QUERY (repeatable), bound by ClickHouse, not pasted.",
)
@format_option
def sql(query: str, params: tuple[str, ...], fmt: str) -> None:
    """Run QUERY on the store and print the result (times as ISO-8601 UTC).

    A parameter named site, peer_site, region, link, domain, rule or receiver must name
    one the store holds (a typo fails, with the closest names, instead of printing
    nothing).

    \b
    Examples:
      megawatch sql "SELECT site, max(total_w) FROM site_power GROUP BY site"
      megawatch sql "SELECT * FROM site_power_per_minute WHERE site = {site:String}" \
        -p site=train-ams-1
    """
    from pipeline.store.reader import read_query

    settings = settings_from()
    values = _sql_params(params)
    if values:
        from pipeline.analytics.names import check_params
        from pipeline.store.named import query_target

        with query_target(settings) as target:
            check_params(target, values)  # site=ams-1 where the fleet has train-ams-1
    echo_frame(read_query(settings, query, values or None, untrusted=True), fmt)


def _sql_params(pairs: tuple[str, ...]) -> dict[str, str]:
    """NAME=VALUE pairs; ClickHouse parses each value as the type the query declares."""
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise QueryError(
                f"--param {pair!r}: expected NAME=VALUE, e.g. --param since='2026-11-29 10:00:00'"
            )
        values[name.strip()] = value
    return values


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
