"""Delivery records and restored firing alerts, on the real embedded store (chDB)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from webhook_receiver import Reply, WebhookReceiver

from pipeline.core.rows import ALERT_COLUMNS
from pipeline.events import Alert
from pipeline.notify.channel import ChannelTiming
from pipeline.notify.delivery_log import COLUMNS, TABLE, store_sink
from pipeline.notify.notifier import Notifier
from pipeline.notify.receivers import Receiver, ReceiverKind
from pipeline.notify.retry import RetryPolicy
from pipeline.notify.service import firing_alerts
from pipeline.store import Store
from pipeline.worker.topic_rows import alert_row

pytestmark = pytest.mark.integration


def alert(n: int, **changes: object) -> Alert:
    base = {
        "fingerprint": f"{n:016x}",
        "rule": "link_loss",
        "severity": "warning",
        "status": "firing",
        "site": "fra1",
        "value": 0.02,
        "threshold": 0.01,
        "starts_at": datetime.now(UTC) - timedelta(minutes=5),
        "summary": "loss",
        "link": f"l{n}",
    }
    return Alert.model_validate(base | changes)


def stored_row(event: Alert, offset: int) -> tuple[object, ...]:
    """``event`` as the worker stores a record of the alerts topic."""
    row = alert_row(event.model_dump_json().encode(), 0, offset)
    assert row is not None
    return row


def test_attempts_and_dead_letters_land_in_alert_deliveries(store: Store) -> None:
    with WebhookReceiver(Reply(503, body="maintenance")) as rx:
        receiver = Receiver(
            name="ops", kind=ReceiverKind.webhook, url=rx.url(), secret=SecretStr("k")
        )
        policy = RetryPolicy(give_up_s=0.4, initial_backoff_s=0.05, max_backoff_s=0.1)

        async def scenario() -> None:
            notifier = Notifier(
                [receiver],
                policy=policy,
                timing=ChannelTiming(group_wait_s=0),
                record_sink=store_sink(store),
            )
            await notifier.start()
            done = asyncio.Event()
            notifier.submit(alert(1, seq=4), done.set)
            await asyncio.wait_for(done.wait(), 10)
            await notifier.stop()  # writes the last batch

        asyncio.run(scenario())
        sent = len(rx.requests)
    rows = store.query_rows(
        f"SELECT receiver, receiver_kind, fingerprint, seq, attempt, outcome, http_status, "
        f"error FROM {TABLE} ORDER BY attempt"
    )
    assert [r[4] for r in rows] == list(range(1, sent + 1))
    assert {r[:4] for r in rows} == {("ops", "webhook", f"{1:016x}", 4)}
    assert [r[5] for r in rows] == ["retry"] * (sent - 1) + ["gave_up"]
    assert rows[-1][6] == 503 and rows[-1][7].endswith("HTTP 503: maintenance")


def test_a_retried_record_batch_is_stored_once(store: Store) -> None:
    from pipeline.notify.delivery_log import DeliveryRecord

    record = DeliveryRecord(
        datetime.now(UTC),
        f"{2:016x}",
        0,
        "firing",
        "link_loss",
        "fra1",
        "ops",
        "slack",
        1,
        "delivered",
        200,
        3.5,
        "",
    )
    sink = store_sink(store)
    asyncio.run(sink([record]))
    asyncio.run(sink([record]))  # the same batch again, as after a failed write
    assert store.query_rows(f"SELECT count() FROM {TABLE}") == [(1,)]
    assert len(COLUMNS) == len(store.query_rows(f"DESCRIBE TABLE {TABLE}"))


def test_firing_alerts_are_the_latest_firing_states(store: Store) -> None:
    events = [
        alert(1),  # still firing
        alert(2),
        alert(2, seq=1, status="resolved", ends_at=datetime.now(UTC)),  # resolved since
        alert(3, seq=0),
        alert(3, seq=1, status="resolved", ends_at=datetime.now(UTC)),
        alert(3, seq=2, starts_at=datetime.now(UTC)),  # fired again
        alert(4, test=True),  # tests are never restored
        alert(5, link=None, rule="cap_critical", domain="hall-2"),  # a power domain's alert
    ]
    rows = [stored_row(a, offset) for offset, a in enumerate(events)]
    store.insert_columns("alerts", ALERT_COLUMNS, [list(col) for col in zip(*rows, strict=True)])
    firing = sorted(firing_alerts(store), key=lambda a: a.fingerprint)
    assert [(a.fingerprint[-1], a.seq) for a in firing] == [("1", 0), ("3", 2), ("5", 0)]
    assert firing[0] == events[0].model_copy(update={"starts_at": firing[0].starts_at})
    assert firing[0].peer_site is None and firing[0].link == "l1" and firing[0].domain is None
    assert firing[2] == events[-1].model_copy(update={"starts_at": firing[2].starts_at})
    assert firing[2].domain == "hall-2"
