"""The ``megawatch`` command.

Subcommands live in their own modules and are imported only when invoked, so that
``megawatch --help`` stays fast and a command never pays for Faust or chDB it does not
use. Every command builds the settings once
(:func:`~pipeline.cli.common.settings_from`) and passes them down; a
:class:`~pipeline.errors.MegawatchError` becomes one line on stderr and exit status 1 (2
for a configuration error).
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from pipeline.errors import ConfigError, MegawatchError

__all__ = ["COMMANDS", "cli", "main"]

#: command name -> "module:attribute" of its click command; add new commands here.
COMMANDS: dict[str, str] = {
    "agent": "pipeline.cli.agent_cmd:agent",
    "alerts": "pipeline.cli.alerts_cmd:alerts",
    "notifier": "pipeline.cli.notifier_cmd:notifier",
    "broker": "pipeline.cli.broker_cmd:broker",
    "db": "pipeline.cli.db_cmd:db",
    "demo": "pipeline.cli.demo_cmd:demo",
    "sql": "pipeline.cli.db_cmd:sql",
    "store": "pipeline.cli.store_cmd:store",
    "schemas": "pipeline.cli.schemas_cmd:schemas",
    "sites": "pipeline.cli.sites_cmd:sites",
    "worker": "pipeline.cli.worker_cmd:worker",
    "query": "pipeline.cli.query_cmd:query",
    "publish": "pipeline.cli.publish_cmd:publish",
    "report": "pipeline.cli.report_cmd:report",
    "digest": "pipeline.cli.digest_cmd:digest",
    "dr": "pipeline.cli.dr_cmd:dr",
    "gateway": "pipeline.cli.gateway_cmd:gateway",
    "jobs": "pipeline.cli.jobs_cmd:jobs",
    "headroom": "pipeline.cli.headroom_cmd:headroom",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.version_option(package_name="megawatch", prog_name="megawatch")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """megawatch: telemetry and power analytics for fleets of AI data centers.

    Settings come from MEGAWATCH_* environment variables or a .env file; with none set,
    megawatch runs on its embedded broker and embedded ClickHouse (chDB).
    """
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = {"verbose": verbose}


def main(argv: list[str] | None = None) -> Any:
    """Console entry point: translate megawatch errors into one line and an exit code."""
    try:
        return cli.main(args=argv, prog_name="megawatch", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ConfigError as exc:
        click.echo(f"megawatch: {exc}", err=True)
        sys.exit(2)
    except MegawatchError as exc:
        click.echo(f"megawatch: {exc}", err=True)
        sys.exit(1)
    except OSError as exc:
        # A file megawatch needs (data dir, lock, log) cannot be used: say which and
        # why in one line, never a traceback (e.g. a read-only MEGAWATCH_DATA_DIR).
        where = f": {exc.filename}" if exc.filename else ""
        click.echo(
            f"megawatch: {exc.strerror or exc}{where} "
            "(check that MEGAWATCH_DATA_DIR and the files named exist and are writable)",
            err=True,
        )
        sys.exit(1)
