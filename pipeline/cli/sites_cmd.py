"""``megawatch sites apply FILE`` / ``megawatch sites list``: site specs on control.sites."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.common import echo_frame, format_option, settings_from


@click.group()
def sites() -> None:
    """Site specs (megawatt cap, warn ratio, staleness, loss thresholds)."""


@sites.command("apply")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def apply(file: Path) -> None:
    """Validate and publish the specs in FILE (YAML) to control.sites.

    FILE holds a list of specs, or a simulator fleet file with `sites:`. All specs are
    validated first: one bad spec publishes none. Workers apply a change at their next
    evaluation, without a restart.
    """
    from pipeline.kafka.site_specs import publish_specs
    from pipeline.sites import domain_notes, load_specs

    settings = settings_from()
    specs = load_specs(file)
    publish_specs(settings, specs)
    for spec in specs:
        click.echo(f"applied {spec.site}: cap {spec.cap_mw:g} MW, warn at {spec.warn_ratio:.0%}")
    for note in domain_notes(specs):
        click.echo(note)


@sites.command("list")
@format_option
def list_(fmt: str) -> None:
    """Show the specs on control.sites, and sites sending telemetry without one."""
    from pipeline.analytics.site_list import sites_frame

    frame, note = sites_frame(settings_from())
    echo_frame(frame, fmt)
    if note:
        click.echo(note, err=True)
