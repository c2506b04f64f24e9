"""Helpers shared by the subcommands: settings once per invocation, output formats."""

from __future__ import annotations

import click

from pipeline.settings import Settings, load_settings


def settings_from(ctx: click.Context | None = None) -> Settings:
    """The settings of this invocation, built once and kept on the click context."""
    ctx = ctx or click.get_current_context()
    root = ctx.find_root()
    if root.obj is None:
        root.obj = {}
    if "settings" not in root.obj:
        root.obj["settings"] = load_settings()
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
