"""Helpers shared by the subcommands: settings once per invocation, output formats."""

from __future__ import annotations

import errno
import logging
import socket
from typing import TYPE_CHECKING

import click

from pipeline.errors import ConfigError
from pipeline.settings import Settings, load_settings, unknown_variables

if TYPE_CHECKING:
    import pandas as pd


def settings_from(ctx: click.Context | None = None) -> Settings:
    """The settings of this invocation, built once and kept on the click context."""
    ctx = ctx or click.get_current_context()
    root = ctx.find_root()
    if root.obj is None:
        root.obj = {}
    if "settings" not in root.obj:
        root.obj["settings"] = load_settings()
        for warning in unknown_variables():  # once per command: the settings are built once
            click.echo(f"megawatch: warning: {warning}", err=True)
    settings: Settings = root.obj["settings"]
    return settings


format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)


def echo_frame(frame: pd.DataFrame, fmt: str) -> None:
    """Print a query result; an empty one still shows its columns and says "0 rows"
    (on stdout for a table, on stderr for csv and json, whose stdout stays parseable:
    the header line alone, ``[]``)."""
    from pipeline.analytics.render import render_frame

    text = render_frame(frame, fmt)
    if text:
        click.echo(text)
    if frame.empty:
        click.echo("0 rows", err=fmt != "table")


#: Libraries whose INFO lines (Faust's ~130 start-up lines, every rebalance step) drown
#: the worker's own; shown again with MEGAWATCH_LOG_LEVEL=DEBUG.
CHATTY_LIBRARIES = ("faust", "mode", "aiokafka", "kafka", "aiohttp", "clickhouse_connect")


class ServiceChatter(logging.Filter):
    """Drops mode's service life-cycle lines ("[^--Name]: Starting...") below WARNING:
    they come from every Faust service, including megawatch's subclasses, so a logger
    level cannot silence them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or not str(record.msg).startswith("[^")


def quiet_libraries(level: str) -> None:
    """Libraries log at WARNING unless the user asked for DEBUG."""
    if level == "DEBUG":
        return
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.addFilter(ServiceChatter())


def check_port_free(host: str, port: int, setting: str) -> None:
    """Fail with one line naming ``setting`` when ``host:port`` is already taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = (
                "is in use"
                if exc.errno == errno.EADDRINUSE
                else f"cannot be bound ({exc.strerror})"
            )
            raise ConfigError(
                f"port {port} on {host} {reason}: set {setting} to a free port "
                "(another worker on this machine needs its own)"
            ) from None
