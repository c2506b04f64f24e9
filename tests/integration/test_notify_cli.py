"""``megawatch alerts ...`` against a real local receiver and the real embedded store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from click.testing import CliRunner
from webhook_receiver import Reply, WebhookReceiver

from pipeline.cli import cli
from pipeline.core.rows import ALERT_COLUMNS
from pipeline.events import Alert, AlertStatus, Severity
from pipeline.notify.signing import verify
from pipeline.store import Store
from pipeline.worker.topic_rows import alert_row

pytestmark = pytest.mark.integration

SECRET = "cli-test-secret"


def env_for(store: Store, **extra: str) -> dict[str, str]:
    return {
        "MEGAWATCH_CLICKHOUSE_DSN": store.settings.store_dsn,
        "MEGAWATCH_DATA_DIR": str(store.settings.data_dir),
        "MEGAWATCH_WEBHOOK_SECRET": SECRET,
        **extra,
    }


def test_alerts_test_reaches_every_receiver_and_is_recorded(store: Store) -> None:
    runner = CliRunner()
    with WebhookReceiver() as ok, WebhookReceiver(Reply(400, body="unknown token")) as bad:
        urls = f"{ok.url('/a')},{bad.url('/b')}"
        env = env_for(store, MEGAWATCH_WEBHOOK_URLS=urls, MEGAWATCH_SLACK_WEBHOOK_URL=ok.url("/s"))
        result = runner.invoke(cli, ["alerts", "test", "--give-up", "2"], env=env)
        assert result.exit_code == 1, result.output  # one receiver refused it
        assert "webhook-1            delivered HTTP 200" in result.output
        assert "webhook-2            failed    HTTP 400" in result.output
        assert "3 attempt(s) recorded in alert_deliveries" in result.output
        hook = next(r for r in ok.requests if r.path == "/a")
        body = hook.json()
        assert body["test"] is True and body["alerts"][0]["test"] is True
        ts = hook.headers["X-Megawatch-Timestamp"]
        assert verify(SECRET, ts, hook.headers["X-Megawatch-Signature"], hook.body, float(ts))
        assert (
            "[TEST, not a real condition]"
            in next(r for r in ok.requests if r.path == "/s").json()["text"]
        )

        only = runner.invoke(cli, ["alerts", "test", "--receiver", "webhook-1"], env=env)
        assert only.exit_code == 0, only.output
        assert "to 1 receiver(s)" in only.output
        unknown = runner.invoke(cli, ["alerts", "test", "--receiver", "nope"], env=env)
        assert "no receiver named 'nope'" in str(unknown.exception)

    shown = runner.invoke(cli, ["alerts", "deliveries", "--format", "json"], env=env)
    rows = orjson.loads(shown.output)
    assert sorted((r["receiver"], r["outcome"], r["http_status"]) for r in rows) == [
        ("slack", "delivered", 200),
        ("webhook-1", "delivered", 200),
        ("webhook-1", "delivered", 200),
        ("webhook-2", "failed", 400),
    ]
    dead = runner.invoke(cli, ["alerts", "deliveries", "--outcome", "failed"], env=env)
    assert "unknown token" in dead.output and "webhook-1" not in dead.output


def test_alerts_list_shows_latest_state(store: Store) -> None:
    now = datetime.now(UTC)
    old = now - timedelta(hours=5)
    rows = [  # fingerprint, seq, status, starts_at, ends_at
        ("00000000000000a1", 0, "firing", old, None),  # firing for 5 h: listed
        ("00000000000000b2", 0, "firing", now - timedelta(minutes=10), None),
        ("00000000000000b2", 1, "resolved", now - timedelta(minutes=10), now),  # latest
        ("00000000000000c3", 0, "firing", old, None),
        ("00000000000000c3", 1, "resolved", old, old + timedelta(minutes=1)),  # long gone
    ]
    events = [
        Alert(
            fingerprint=fp,
            seq=seq,
            rule="cap_critical",
            severity=Severity.critical,
            status=AlertStatus(status),
            site="fra1",
            domain="hall-1" if fp.endswith("a1") else None,
            value=1.0,
            threshold=0.9,
            starts_at=starts,
            ends_at=ends,
            summary="s",
        )
        for fp, seq, status, starts, ends in rows
    ]
    # stored as the worker stores the alerts topic
    data = [alert_row(a.model_dump_json().encode(), 0, i) for i, a in enumerate(events)]
    store.insert_columns("alerts", ALERT_COLUMNS, [list(c) for c in zip(*data, strict=True)])
    result = CliRunner().invoke(cli, ["alerts", "list", "--format", "json"], env=env_for(store))
    listed = orjson.loads(result.output)
    assert [(r["fingerprint"][-2:], r["status"], r["domain"]) for r in listed] == [
        ("b2", "resolved", ""),
        ("a1", "firing", "hall-1"),  # a power domain's cap alert says which domain
    ]
    firing = CliRunner().invoke(
        cli, ["alerts", "list", "--status", "firing", "--since", "7d"], env=env_for(store)
    )
    assert "00000000000000a1" in firing.output and "00000000000000c3" not in firing.output
