"""``megawatch store serve|status|stop``: the embedded store's server by hand.

Every megawatch process starts the server on demand, so these are for operators: run it
in the foreground (e.g. under systemd, never stopping when idle), see where it listens,
or stop it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from pipeline.cli.common import settings_from
from pipeline.errors import ConfigError


def _embedded_path() -> Path:
    from pipeline.store.connection import parse_target

    target = parse_target(settings_from())
    if target.path is None:
        raise ConfigError(
            "MEGAWATCH_CLICKHOUSE_DSN names a ClickHouse server: there is no embedded store "
            "to serve"
        )
    return target.path


@click.group()
def store() -> None:
    """The embedded store's server (it owns the chDB directory; every process talks to it)."""


@store.command()
@click.option("--port", type=int, default=0, show_default=True, help="0: any free port.")
def serve(port: int) -> None:
    """Own the embedded store and serve it on 127.0.0.1 until Ctrl-C or SIGTERM."""
    from pipeline.store import owner, server

    path = _embedded_path()
    running = owner.discover(path)
    if running is not None:
        raise ConfigError(f"the store server for {path} already runs (pid {running.pid})")
    click.echo(f"store server for {path}: serving (Ctrl-C to stop)", err=True)
    asyncio.run(server.serve(path, port, idle_exit_s=0))


@store.command()
def status() -> None:
    """Where the embedded store's server listens, if it runs."""
    from pipeline.store import owner

    path = _embedded_path()
    info = owner.discover(path)
    if info is None:
        click.echo(f"store server for {path}: not running (started on first use)")
    else:
        click.echo(f"store server for {path}: pid {info.pid}, {info.url}")


@store.command()
def stop() -> None:
    """Stop the embedded store's server (the next use starts it again)."""
    from pipeline.store import owner

    path = _embedded_path()
    pid = owner.stop(path)
    click.echo(f"store server for {path}: " + (f"stopped pid {pid}" if pid else "not running"))
