"""``megawatch jobs import|list|forget``: the job map on control.jobs (docs/energy.md)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from pipeline.cli.alerts_cmd import parse_duration
from pipeline.cli.common import format_option, settings_from
from pipeline.errors import ConfigError


@click.group()
def jobs() -> None:
    """Jobs on the job map: which job, tenant and priority a host's GPUs work for."""


def _mapping(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name or not value:
            raise click.BadParameter(f"{pair!r}: expected NAME=CLASS", param_hint="--priority-map")
        out[name] = value
    return out


@jobs.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--site", required=True, help="The site whose hosts the jobs ran on.")
@click.option("--tz", default="UTC", show_default=True, help="Time zone of Slurm's times.")
@click.option(
    "--priority-from",
    type=click.Choice(["qos", "partition", "none"]),
    default="qos",
    show_default=True,
    help="The column that names a job's priority class.",
)
@click.option(
    "--priority-map",
    multiple=True,
    metavar="NAME=CLASS",
    help="Rename a QOS or partition to a class (repeatable): --priority-map interactive=inference.",
)
@click.option("--dry-run", is_flag=True, help="Read and check FILE, publish nothing.")
def import_(
    file: Path, site: str, tz: str, priority_from: str, priority_map: tuple[str, ...], dry_run: bool
) -> None:
    """Publish Slurm's jobs from FILE (sacct -P or squeue -o '...|...' output; - for
    stdin) to control.jobs.

    \b
    Examples:
      sacct -P -X -a -S now-1days \\
          --format=JobID,User,Account,Partition,QOS,NodeList,Start,End,State \\
        | megawatch jobs import - --site train-dfw-1
      squeue -a -t RUNNING -o '%i|%u|%a|%P|%q|%N|%S|%e|%T' > running.txt
      megawatch jobs import running.txt --site train-dfw-1 --priority-map high=training
    """
    import re

    from pipeline.events import ID_PATTERN
    from pipeline.jobs.slurm import ReadOptions, SlurmFormatError, parse_jobs

    if not re.match(ID_PATTERN, site):
        raise ConfigError(f"--site {site!r}: 1-64 characters of A-Z a-z 0-9 . _ : -")
    text = _read(file)
    options = ReadOptions(site, tz, priority_from, _mapping(priority_map))
    try:
        parsed = parse_jobs(text, options)
    except SlurmFormatError as exc:
        raise ConfigError(f"{file}: {exc}") from None
    running = sum(1 for job in parsed.jobs if job.end_ts is None)
    skipped = ", ".join(f"{n} {why}" for why, n in sorted(parsed.skipped.items()))
    if not dry_run and parsed.jobs:
        from pipeline.jobs.publish import publish_jobs

        publish_jobs(settings_from(), parsed.jobs)
    verb = "read" if dry_run else "published"
    click.echo(
        f"{verb} {len(parsed.jobs)} jobs of {site} ({running} running)"
        + (f"; left out: {skipped}" if skipped else "")
    )


def _read(file: Path) -> str:
    if str(file) == "-":
        return sys.stdin.read()
    try:
        return file.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read ({exc.strerror})") from None


@jobs.command("list")
@click.option("--site", default=None, help="One site only.")
@format_option
def list_(site: str | None, fmt: str) -> None:
    """Show the jobs on control.jobs, newest start first."""
    import pandas as pd

    from pipeline.analytics.render import render_frame
    from pipeline.events import ms_to_datetime
    from pipeline.jobs.publish import read_jobs

    job_map = read_jobs(settings_from())
    rows = [
        {
            "site": job.site,
            "job": job.job,
            "tenant": job.tenant or "",
            "priority": job.priority or "",
            "hosts": len(job.hosts),
            "start": ms_to_datetime(job.start_ts),
            "end": ms_to_datetime(job.end_ts) if job.end_ts is not None else None,
        }
        for job in job_map.jobs.values()
        if site is None or job.site == site
    ]
    frame = pd.DataFrame(
        rows, columns=["site", "job", "tenant", "priority", "hosts", "start", "end"]
    )
    click.echo(render_frame(frame.sort_values("start", ascending=False), fmt))
    if job_map.invalid:
        click.echo(f"{job_map.invalid} records on control.jobs are no job spec", err=True)


@jobs.command("forget")
@click.option("--site", default=None, help="One site only (default: every site).")
@click.option(
    "--ended-before",
    default="8d",
    show_default=True,
    help="Forget jobs that ended longer ago than this (past the accepted event age).",
)
def forget(site: str | None, ended_before: str) -> None:
    """Remove jobs that ended long ago from control.jobs (workers drop them too)."""
    from pipeline.jobs.publish import ended_before as old_jobs
    from pipeline.jobs.publish import publish_jobs, read_jobs

    settings = settings_from()
    cutoff_ms = int((time.time() - parse_duration(ended_before)) * 1000)
    keys = old_jobs(read_jobs(settings), cutoff_ms, site)
    if keys:
        publish_jobs(settings, keys)
    click.echo(f"forgot {len(keys)} jobs that ended more than {ended_before} ago")
