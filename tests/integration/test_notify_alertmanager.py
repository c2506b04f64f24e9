"""The notifier against a real Alertmanager (Debian's prometheus-alertmanager).

Pushes through /api/v2/alerts, reads back through GET /api/v2/alerts, and lets the real
Alertmanager notify our local webhook receiver, so that our own Alertmanager-format
webhook payload is checked field for field against the real thing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alertmanager import SKIP_REASON, Alertmanager, binary, running_alertmanager
from webhook_receiver import WebhookReceiver

from pipeline.events import Alert
from pipeline.notify.channel import ChannelTiming
from pipeline.notify.delivery_log import DeliveryRecord
from pipeline.notify.notification import GroupKey, Notification
from pipeline.notify.notifier import Notifier
from pipeline.notify.payloads import PayloadContext, alertmanager_webhook_body
from pipeline.notify.receivers import Receiver, ReceiverKind
from pipeline.notify.retry import RetryPolicy

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(binary() is None, reason=SKIP_REASON),
]

STARTS = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)


def alert(**changes: object) -> Alert:
    base = {
        "fingerprint": "a1b2c3d4e5f60718",
        "rule": "link_loss",
        "severity": "critical",
        "status": "firing",
        "site": "fra1",
        "value": 0.031,
        "threshold": 0.01,
        "starts_at": STARTS,
        "summary": "wan link to ams2 drops 3.1% of packets",
        "link": "wan-ams2",
        "peer_site": "ams2",
        "rack": None,
        "seq": 0,
    }
    return Alert.model_validate(base | changes)


@pytest.fixture
def hook_server() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as rx:
        yield rx


@pytest.fixture
def alertmanager(tmp_path: Path, hook_server: WebhookReceiver) -> Iterator[Alertmanager]:
    with running_alertmanager(tmp_path / "am", hook_server.url("/from-am")) as manager:
        yield manager


def wait_until(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


async def push(notifier: Notifier, *alerts: Alert) -> None:
    events = [asyncio.Event() for _ in alerts]
    for item, event in zip(alerts, events, strict=True):
        notifier.submit(item, event.set)
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), 20)


def test_push_list_and_resolve(alertmanager: Alertmanager, hook_server: WebhookReceiver) -> None:
    receiver = Receiver(name="am", kind=ReceiverKind.alertmanager_api, url=alertmanager.url)
    records: list[DeliveryRecord] = []
    ends: list[str] = []

    async def sink(batch: list[DeliveryRecord]) -> None:
        records.extend(batch)

    async def scenario() -> None:
        timing = ChannelTiming(resend_s=0.5)
        notifier = Notifier(
            [receiver],
            timing=timing,
            record_sink=sink,
            policy=RetryPolicy(give_up_s=10, initial_backoff_s=0.05),
        )
        await notifier.start()
        await push(notifier, alert())
        listed = await asyncio.to_thread(alertmanager.alerts)
        ends.append(listed[0]["endsAt"])
        await asyncio.sleep(1.6)  # a few resend intervals: endsAt moves forward
        ends.append((await asyncio.to_thread(alertmanager.alerts))[0]["endsAt"])
        await push(notifier, alert(status="resolved", seq=1, ends_at=datetime.now(UTC)))
        await notifier.stop()

    asyncio.run(scenario())
    assert [(r.outcome, r.http_status) for r in records] == [("delivered", 200)] * 2
    assert ends[1] > ends[0], "firing alerts are re-sent with a later endsAt"
    assert alertmanager.alerts() == [], "resolved alerts are no longer active"
    # Alertmanager itself notified its webhook: firing, then resolved.
    wait_until(lambda: [r.json()["status"] for r in hook_server.requests][-1:] == ["resolved"])


def test_alertmanager_lists_our_labels(alertmanager: Alertmanager) -> None:
    receiver = Receiver(name="am", kind=ReceiverKind.alertmanager_api, url=alertmanager.url)

    async def scenario() -> None:
        notifier = Notifier([receiver])
        await notifier.start()
        await push(notifier, alert())
        await notifier.stop()

    asyncio.run(scenario())
    (listed,) = alertmanager.alerts()
    assert listed["labels"] == {
        "alertname": "link_loss",
        "site": "fra1",
        "severity": "critical",
        "link": "wan-ams2",
        "peer_site": "ams2",
    }
    notes = listed["annotations"]
    assert notes["summary"] == "wan link to ams2 drops 3.1% of packets"
    assert (notes["value"], notes["threshold"]) == ("0.031", "0.01")
    assert listed["status"]["state"] == "active"
    assert listed["startsAt"].startswith(STARTS.strftime("%Y-%m-%dT%H:%M:%S"))


def test_our_webhook_format_matches_alertmanagers_own(
    alertmanager: Alertmanager, hook_server: WebhookReceiver
) -> None:
    receiver = Receiver(name="am", kind=ReceiverKind.alertmanager_api, url=alertmanager.url)

    async def scenario() -> None:
        notifier = Notifier([receiver])
        await notifier.start()
        await push(notifier, alert())
        await notifier.stop()

    asyncio.run(scenario())
    wait_until(lambda: len(hook_server.requests) >= 1)
    theirs = hook_server.requests[0].json()
    hook = Receiver(name="webhook", kind=ReceiverKind.alertmanager_webhook, url="http://x/")
    n = Notification("webhook", GroupKey.of(alert()), (alert(),))
    ours = alertmanager_webhook_body(hook, n, PayloadContext("http://x", 60), datetime.now(UTC))
    assert set(ours) == set(theirs)
    assert set(ours["alerts"][0]) == set(theirs["alerts"][0])
    assert ours["version"] == theirs["version"] == "4"
    for field in ("status", "groupLabels", "commonLabels", "commonAnnotations", "truncatedAlerts"):
        assert ours[field] == theirs[field], field
    assert ours["alerts"][0]["labels"] == theirs["alerts"][0]["labels"]
    assert ours["alerts"][0]["endsAt"] == theirs["alerts"][0]["endsAt"]
