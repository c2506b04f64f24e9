"""``megawatch alerts test|list|deliveries|receivers``.

``alerts test`` sends a clearly marked test alert (``test: true``) through the real
delivery code (grouping, payloads, signing, retries) to every receiver, or one, and
prints each receiver's outcome. ``list`` and ``deliveries`` read ClickHouse.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import socket
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from pipeline.cli.common import echo_frame, format_option, settings_from
from pipeline.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from pipeline.events import Alert
    from pipeline.notify.delivery_log import DeliveryRecord
    from pipeline.notify.receivers import Receiver
    from pipeline.settings import Settings

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
NO_RECEIVERS = (
    "no receivers configured: set MEGAWATCH_WEBHOOK_URLS (+ MEGAWATCH_WEBHOOK_SECRET), "
    "MEGAWATCH_ALERTMANAGER_URL, MEGAWATCH_SLACK_WEBHOOK_URL or MEGAWATCH_RECEIVERS_FILE"
)


def parse_duration(text: str) -> int:
    """``90s``, ``15m``, ``1h``, ``7d``, ``1w`` (or plain seconds) -> seconds."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhdw]?)\s*", text)
    if not match:
        raise click.BadParameter(f"{text!r}: expected a duration such as 90s, 15m, 1h, 7d")
    return int(match.group(1)) * _UNITS[match.group(2) or "s"]


since_option = click.option(
    "--since", default="1h", show_default=True, help="How far back: 30m, 6h, 7d..."
)


@click.group()
def alerts() -> None:
    """Alert delivery: send a test alert, list alerts and delivery attempts."""


@alerts.command("receivers")
def list_receivers() -> None:
    """Show the configured receivers (URLs redacted) and their filters."""
    from pipeline.notify.receivers import receivers_from_settings

    found = receivers_from_settings(settings_from())
    if not found:
        raise ConfigError(NO_RECEIVERS)
    for r in found:
        filters = {k: list(v) for k, v in r.match.model_dump().items() if v}
        resolved = "" if r.send_resolved else ", no resolved"
        click.echo(
            f"{r.name:<20} {r.kind.value:<21} {r.display_url}  {filters or 'all alerts'}{resolved}"
        )


@alerts.command("test")
@click.option("--receiver", "name", help="Send to this receiver only (see `alerts receivers`).")
@click.option("--site", default="megawatch-test", show_default=True, help="Site label to use.")
@click.option(
    "--give-up",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds to keep retrying a failing receiver.",
)
@click.option(
    "--record/--no-record",
    default=True,
    show_default=True,
    help="Store the attempts in alert_deliveries (if the store opens).",
)
def test_alert(name: str | None, site: str, give_up: float, record: bool) -> None:
    """Send a test alert (marked test: true) to the receivers; exit 1 unless all got it."""
    from pipeline.notify.notifier import single_receiver
    from pipeline.notify.receivers import receivers_from_settings

    settings = settings_from()
    receivers = single_receiver(receivers_from_settings(settings), name)
    if not receivers:
        raise ConfigError(NO_RECEIVERS)
    alert = make_test_alert(site)
    click.echo(
        f"sending test alert {alert.fingerprint}:{alert.seq} to {len(receivers)} receiver(s)"
    )
    records = asyncio.run(_send(settings, receivers, alert, give_up))
    failed = _echo_outcomes(receivers, records)
    if record:
        from pipeline.notify.delivery_log import record_in_store

        click.echo(record_in_store(settings, records))
    if failed:
        raise click.exceptions.Exit(1)


def make_test_alert(site: str) -> Alert:
    from pipeline.events import Alert, AlertStatus, Severity

    return Alert(
        fingerprint=secrets.token_hex(8),
        rule="megawatch_test",
        severity=Severity.info,
        status=AlertStatus.firing,
        site=site,
        value=1.0,
        threshold=0.0,
        starts_at=datetime.now(UTC),
        summary=f"TEST from `megawatch alerts test` on {socket.gethostname()}: "
        "not a real condition, no action needed",
        test=True,
    )


async def _send(
    settings: Settings, receivers: list[Receiver], alert: Alert, give_up: float
) -> list[DeliveryRecord]:
    from dataclasses import replace

    from pipeline.notify.notifier import Notifier

    records: list[DeliveryRecord] = []

    async def keep(batch: list[DeliveryRecord]) -> None:
        records.extend(batch)

    notifier = Notifier.from_settings(settings, keep, receivers)
    notifier.policy = replace(notifier.policy, give_up_s=give_up)
    notifier.timing = replace(notifier.timing, group_wait_s=0.0)
    await notifier.start()
    done = asyncio.Event()
    notifier.submit(alert, done.set)
    await done.wait()
    await notifier.stop()
    return records


def _echo_outcomes(receivers: list[Receiver], records: list[DeliveryRecord]) -> int:
    failed = 0
    for receiver in receivers:
        mine = [r for r in records if r.receiver == receiver.name]
        last = mine[-1] if mine else None
        if last is None or last.outcome != "delivered":
            failed += 1
        if last is None:
            click.echo(f"  {receiver.name:<20} no attempt made")
            continue
        status = f"HTTP {last.http_status}" if last.http_status else "no response"
        detail = f"  {last.error}" if last.error else ""
        click.echo(
            f"  {receiver.name:<20} {last.outcome:<9} {status:<11} "
            f"{last.latency_ms:7.1f} ms  attempt {last.attempt}{detail}"
        )
    return failed


# --- reading the store ----------------------------------------------------------------
_LIST_SQL = """
SELECT changed_at, severity, status, site, rule, value, threshold, summary, link, rack, domain,
       starts_at, ends_at, seq, fingerprint
FROM (
    SELECT *, greatest(starts_at, ifNull(ends_at, starts_at)) AS changed_at
    FROM alerts FINAL
    WHERE test = 0 OR {include_test:UInt8} = 1
    ORDER BY fingerprint, seq DESC
    LIMIT 1 BY fingerprint
)
WHERE (changed_at >= now64(3) - toIntervalSecond({since_s:UInt32}) OR status = 'firing')
  AND ({site:String} = '' OR site = {site:String})
  AND ({status:String} = '' OR status = {status:String})
ORDER BY changed_at DESC
LIMIT {limit:UInt32}
"""

_DELIVERIES_SQL = """
SELECT at, receiver, receiver_kind AS kind, outcome, http_status, attempt,
       round(latency_ms, 1) AS latency_ms,
       status, rule, site, fingerprint, seq, error
FROM alert_deliveries
WHERE at >= now64(3) - toIntervalSecond({since_s:UInt32})
  AND ({receiver:String} = '' OR receiver = {receiver:String})
  AND ({outcome:String} = '' OR outcome = {outcome:String})
ORDER BY at DESC
LIMIT {limit:UInt32}
"""


@alerts.command("list")
@since_option
@click.option("--site", default="", help="Only this site.")
@click.option("--status", type=click.Choice(["", "firing", "resolved"]), default="")
@click.option("--include-test", is_flag=True, help="Also list test alerts.")
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="Also the firing warnings whose critical alert fires (superseded: not listed).",
)
@click.option("--limit", type=int, default=200, show_default=True)
@format_option
def list_alerts(
    since: str, site: str, status: str, include_test: bool, every: bool, limit: int, fmt: str
) -> None:
    """Alerts firing now or changed within --since, latest state of each; one per
    condition (a firing critical alert supersedes its own warning), the key figure
    first in a table."""
    params = {
        "since_s": parse_duration(since),
        "site": site,
        "status": status,
        "include_test": int(include_test),
        "limit": limit,
    }
    settings = settings_from()
    _check(settings, "site", site, "--site")
    frame = query(settings, _LIST_SQL, params)
    if not every:
        frame = _strongest_only(frame)
    if fmt == "table" and not frame.empty:
        frame = _figure_first(frame)
    echo_frame(frame, fmt)


def _strongest_only(frame: pd.DataFrame) -> pd.DataFrame:
    """Without the firing alerts a stronger firing alert of their condition supersedes."""
    from pipeline.analytics.conditions import superseded_out

    rows = [{**row, "_at": at} for at, row in enumerate(frame.to_dict("records"))]
    kept = [row["_at"] for row in superseded_out(rows)]
    if len(kept) < len(rows):
        click.echo(
            f"{len(rows) - len(kept)} warnings not listed: their critical alert fires "
            "(--all lists them)",
            err=True,
        )
    return frame.iloc[kept].reset_index(drop=True)


def _figure_first(frame: pd.DataFrame) -> pd.DataFrame:
    """The table's columns for a narrow terminal: when, how bad, where, the key figure,
    then the text (which may wrap), and the rest."""
    from pipeline.analytics.conditions import key_figure

    figures = [key_figure(row) for row in frame.to_dict("records")]
    return frame.assign(figure=figures)[
        ["changed_at", "severity", "status", "site", "figure", "summary"]
        + [
            c
            for c in frame.columns
            if c not in ("changed_at", "severity", "status", "site") and c != "summary"
        ]
    ]


@alerts.command("deliveries")
@since_option
@click.option("--receiver", default="", help="Only this receiver.")
@click.option(
    "--outcome",
    type=click.Choice(["", "delivered", "retry", "failed", "gave_up"]),
    default="",
    help="Only this outcome (gave_up: the dead letters).",
)
@click.option("--limit", type=int, default=200, show_default=True)
@format_option
def deliveries(since: str, receiver: str, outcome: str, limit: int, fmt: str) -> None:
    """Delivery attempts, newest first: receiver, outcome, HTTP status, latency, error."""
    params = {
        "since_s": parse_duration(since),
        "receiver": receiver,
        "outcome": outcome,
        "limit": limit,
    }
    settings = settings_from()
    _check(settings, "receiver", receiver, "--receiver")
    echo_frame(query(settings, _DELIVERIES_SQL, params), fmt)


def _check(settings: Settings, kind: str, value: str, option: str) -> None:
    """``value`` names a site (receiver) the store holds (or configured receivers)."""
    if not value:
        return
    from pipeline.analytics.names import check_name, known_names
    from pipeline.store.named import query_target

    with query_target(settings) as target:
        known = known_names(target, kind)
    if kind == "receiver":
        from pipeline.notify.receivers import receivers_from_settings

        known |= {r.name for r in receivers_from_settings(settings)}
    check_name(kind, value, known, option)


def query(settings: Settings, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    from pipeline.store.reader import read_query

    return read_query(settings, sql, params)
