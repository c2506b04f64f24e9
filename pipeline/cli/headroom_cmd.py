"""``megawatch headroom``: how many more racks fit under a feed's cap, at what risk."""

from __future__ import annotations

import click

from pipeline.cli.alerts_cmd import parse_duration
from pipeline.cli.common import format_option, settings_from


@click.command()
@click.option("--site", required=True, help="The site.")
@click.option("--domain", default="", help="One of its power domains (default: the site).")
@click.option("--rack", default=None, help="Profile: racks like this one (its own history).")
@click.option("--jobs", default=None, help="Profile: racks running these jobs (JOB,JOB...).")
@click.option(
    "--risk",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.001,
    show_default=True,
    help="Share of minutes the domain may spend over its cap (0.001: p99.9).",
)
@click.option("--since", default="7d", show_default=True, help="History to judge on: 7d, 30d...")
@click.option("--until", "until_text", default=None, help="End of the history, ISO-8601 UTC.")
@click.option(
    "--cap-mw", type=float, default=None, help="Judge against this cap (default: the domain's)."
)
@format_option
def headroom(
    site: str,
    domain: str,
    rack: str | None,
    jobs: str | None,
    risk: float,
    since: str,
    until_text: str | None,
    cap_mw: float | None,
    fmt: str,
) -> None:
    """p99 and p99.9 of a domain's power against its cap, the stranded MW, and how many
    more racks of a profile fit under the cap at a risk (docs/energy.md).

    \b
    Examples:
      megawatch headroom --site train-dfw-1 --domain hall-2 --rack r0117
      megawatch headroom --site train-dfw-1 --jobs 4471203,4471290 --risk 0.01 --since 30d
    """
    import pandas as pd

    from pipeline.analytics.headroom import read_headroom
    from pipeline.analytics.names import check_name, known_names
    from pipeline.analytics.render import render_frame
    from pipeline.cli.digest_cmd import parse_until
    from pipeline.store.named import query_target

    with query_target(settings_from()) as target:
        for kind, value in (("site", site), ("domain", domain)):  # names that exist
            check_name(kind, value, known_names(target, kind), f"--{kind}")
        answer = read_headroom(
            target,
            site,
            domain=domain,
            rack=rack,
            jobs=jobs,
            risk=risk,
            since_s=parse_duration(since),
            until=parse_until(until_text),
            cap_mw=cap_mw,
        )
    click.echo(render_frame(pd.DataFrame([answer.row()]), fmt))
