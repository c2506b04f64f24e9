"""``megawatch dr add|list|cancel``: demand-response events on control.dr
(docs/power-dynamics.md)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import click

from pipeline.cli.alerts_cmd import parse_duration
from pipeline.cli.common import format_option, settings_from
from pipeline.errors import ConfigError


@click.group()
def dr() -> None:
    """Demand-response events: a site or region asked to stay under a ceiling or cut load."""


def _when(text: str, option: str) -> int:
    """``now``, ``now+15m`` or an ISO-8601 time (UTC unless it has an offset) -> epoch ms."""
    if text.startswith("now"):
        rest = text[3:].lstrip("+")
        return int((time.time() + (parse_duration(rest) if rest else 0)) * 1000)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: expected now, now+15m or an ISO-8601 time such as 2026-07-27T19:00:00Z",
            param_hint=option,
        ) from None
    return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp() * 1000)


@dr.command("add")
@click.option("--id", "event_id", required=True, help="The utility's or aggregator's event id.")
@click.option("--site", default=None, help="The site asked (or --region).")
@click.option("--region", default=None, help="Every site of this region, as one load.")
@click.option("--start", required=True, help="now, now+15m or ISO-8601 (UTC).")
@click.option("--end", default=None, help="now+3h or ISO-8601 (or --for).")
@click.option("--for", "duration", default=None, help="How long: 30m, 3h (or --end).")
@click.option("--ceiling-mw", type=float, default=None, help="Stay at or under this load.")
@click.option("--reduction-pct", type=float, default=None, help="Cut this share of the baseline.")
@click.option("--program", default=None, help="The program it belongs to.")
def add(
    event_id: str,
    site: str | None,
    region: str | None,
    start: str,
    end: str | None,
    duration: str | None,
    ceiling_mw: float | None,
    reduction_pct: float | None,
    program: str | None,
) -> None:
    """Publish a DR event (the same id again replaces it).

    \b
    Examples:
      megawatch dr add --id ers-0727-1 --site train-dfw-1 --start now+10m --for 3h \\
          --reduction-pct 25 --program "ERCOT ERS"
      megawatch dr add --id pjm-77 --region us-east --start 2026-07-27T19:00:00Z \\
          --end 2026-07-27T21:00:00Z --ceiling-mw 400
    """
    from pydantic import ValidationError

    from pipeline.demand.control import publish_events
    from pipeline.events import DemandResponse

    if (end is None) == (duration is None):
        raise click.UsageError("give --end or --for")
    start_ms = _when(start, "--start")
    end_ms = (
        _when(end, "--end") if end is not None else start_ms + parse_duration(duration or "") * 1000
    )
    fields = {
        "id": event_id,
        "site": site,
        "region": region,
        "start_ts": start_ms,
        "end_ts": end_ms,
        "ceiling_mw": ceiling_mw,
        "reduction_pct": reduction_pct,
        "program": program,
    }
    try:
        event = DemandResponse.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(
            f"DR event {event_id}: {where + ': ' if where else ''}{message}"
        ) from None
    publish_events(settings_from(), [event])
    target = (
        f"{event.ceiling_mw:g} MW ceiling"
        if event.ceiling_mw is not None
        else (f"-{event.reduction_pct:g} % of the baseline")
    )
    click.echo(f"published DR event {event.id} for {event.scope}: {target}")


@dr.command("list")
@format_option
def list_(fmt: str) -> None:
    """Show the events on control.dr, newest start first."""
    import pandas as pd

    from pipeline.analytics.render import render_frame
    from pipeline.demand.control import read_events
    from pipeline.events import ms_to_datetime

    found = read_events(settings_from())
    rows = [
        {
            "id": e.id,
            "scope": e.scope,
            "region": "yes" if e.region else "",
            "start": ms_to_datetime(e.start_ts),
            "end": ms_to_datetime(e.end_ts),
            "ceiling_mw": e.ceiling_mw,
            "reduction_pct": e.reduction_pct,
            "program": e.program or "",
            "cancelled": "yes" if e.cancelled else "",
        }
        for e in found.events.values()
    ]
    columns = ["id", "scope", "region", "start", "end", "ceiling_mw", "reduction_pct"]
    frame = pd.DataFrame(rows, columns=[*columns, "program", "cancelled"])
    click.echo(render_frame(frame.sort_values("start", ascending=False), fmt))
    if found.invalid:
        click.echo(f"{found.invalid} records on control.dr are no DR event", err=True)


@dr.command("cancel")
@click.argument("event_id")
def cancel(event_id: str) -> None:
    """Call an event off: ended now if under way (measured until now), forgotten if it
    has not started."""
    from pipeline.demand.control import cancelled, publish_events, read_events

    settings = settings_from()
    event = read_events(settings).events.get(event_id)
    if event is None:
        raise ConfigError(f"no DR event {event_id!r} on control.dr (megawatch dr list)")
    cut = cancelled(event, int(time.time() * 1000))
    publish_events(settings, [event_id if cut is None else cut])
    click.echo(f"DR event {event_id} " + ("forgotten" if cut is None else "cancelled: ends now"))
