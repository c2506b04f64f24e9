"""``megawatch digest [--since 24h] [--site S] [--send]``: the five things to know.

Prints the digest (ranked findings as short sentences; the rules are in
:mod:`pipeline.analytics.ranking`). ``--send`` also delivers it to the configured
receivers, signed like alerts, and records the attempts in ``alert_deliveries``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from pipeline.cli.alerts_cmd import NO_RECEIVERS, parse_duration
from pipeline.cli.common import settings_from
from pipeline.errors import ConfigError

if TYPE_CHECKING:
    from pipeline.analytics.digest import Digest
    from pipeline.settings import Settings


@click.command()
@click.option("--since", default="24h", show_default=True, help="Window: 6h, 24h, 7d...")
@click.option(
    "--until", "until_text", default=None, help="End of the window, ISO-8601 UTC (default: now)."
)
@click.option("--site", default=None, help="One site only (default: the whole fleet).")
@click.option(
    "--top",
    type=click.IntRange(1, 50),
    default=5,
    show_default=True,
    help="How many findings to show.",
)
@click.option("--send", is_flag=True, help="Also deliver it to the configured receivers.")
@click.option(
    "--give-up",
    type=float,
    default=30.0,
    show_default=True,
    help="With --send: seconds to keep retrying a failing receiver.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the digest as JSON.")
def digest(
    since: str,
    until_text: str | None,
    site: str | None,
    top: int,
    send: bool,
    give_up: float,
    as_json: bool,
) -> None:
    """Rank what happened in the window and print the most important findings.

    \b
    Examples:
      megawatch digest
      megawatch digest --since 7d --site train-ams-1
      megawatch digest --send
    """
    from pipeline.analytics.digest_data import current_specs, read_digest
    from pipeline.analytics.names import check_name, known_names
    from pipeline.store.named import query_target
    from pipeline.store.reader import require_store

    settings = settings_from()
    until = parse_until(until_text)
    require_store(settings)  # before the broker is asked for the specs
    specs, note = current_specs(settings)
    if note:
        click.echo(note, err=True)
    with query_target(settings) as target:
        if site:  # a typo must not read as "nothing to report"
            known = known_names(target, "site") | set(specs or {})
            check_name("site", site, known, "--site")
        result = read_digest(
            target, settings, parse_duration(since), until, site, top=top, specs=specs
        )
    if as_json:
        import orjson

        click.echo(
            orjson.dumps(
                result.body("stdout", datetime.now(UTC)), option=orjson.OPT_INDENT_2
            ).decode()
        )
    else:
        click.echo(result.text())
    if send:
        _send(settings, result, give_up)


def parse_until(text: str | None) -> datetime:
    """``--until``: ISO-8601 (UTC unless it has an offset), default now."""
    if text is None:
        return datetime.now(UTC)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: expected an ISO-8601 time such as 2026-11-20T08:00:00Z",
            param_hint="--until",
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _send(settings: Settings, result: Digest, give_up: float) -> None:
    from pipeline.analytics.digest_send import send_digest
    from pipeline.notify.receivers import receivers_from_settings

    receivers = receivers_from_settings(settings)
    if not receivers:
        raise ConfigError(NO_RECEIVERS)
    outcomes, records = asyncio.run(send_digest(result, settings, receivers, give_up_s=give_up))
    click.echo(f"\ndigest {result.digest_id} sent to {len(receivers)} receiver(s):")
    for o in outcomes:
        status = f"HTTP {o.http_status}" if o.http_status else ""
        detail = f"  {o.detail}" if o.detail else ""
        click.echo(f"  {o.receiver:<20} {o.outcome:<9} {status:<9}{detail}")
    if records:
        from pipeline.notify.delivery_log import record_in_store

        click.echo(record_in_store(settings, records))
    if any(o.outcome not in ("delivered", "skipped") for o in outcomes):
        raise click.exceptions.Exit(1)
