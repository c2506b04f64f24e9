"""The notifier against a real local HTTP server: signatures, retries, give-up, grouping."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr
from webhook_receiver import Reply, WebhookReceiver

from pipeline.events import Alert
from pipeline.notify.channel import ChannelTiming
from pipeline.notify.delivery_log import DeliveryRecord
from pipeline.notify.notifier import Notifier
from pipeline.notify.receivers import Receiver, ReceiverKind
from pipeline.notify.retry import RetryPolicy
from pipeline.notify.signing import verify

pytestmark = pytest.mark.integration

SECRET = "test-signing-secret"
FAST = RetryPolicy(give_up_s=10, initial_backoff_s=0.02, max_backoff_s=0.1, request_timeout_s=2)
NOW_WAIT = ChannelTiming(group_wait_s=0.0)


def alert(n: int = 1, **changes: object) -> Alert:
    base = {
        "fingerprint": f"{n:016x}",
        "rule": "site_power_cap",
        "severity": "critical",
        "status": "firing",
        "site": "fra1",
        "value": 10.4e6,
        "threshold": 10e6,
        "starts_at": datetime.now(UTC),
        "summary": "fra1 draws 10.4 MW against a 10 MW cap",
    }
    return Alert.model_validate(base | changes)


@pytest.fixture
def server() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as rx:
        yield rx


def hook(url: str, name: str = "hook", **kw: object) -> Receiver:
    return Receiver(name=name, kind=ReceiverKind.webhook, url=url, secret=SecretStr(SECRET), **kw)


async def deliver(
    receivers: list[Receiver],
    alerts: list[Alert],
    policy: RetryPolicy = FAST,
    timing: ChannelTiming = NOW_WAIT,
    settle_s: float = 0.0,
) -> tuple[list[DeliveryRecord], Notifier]:
    """Submit ``alerts``, wait until every receiver is done with all of them."""
    records: list[DeliveryRecord] = []

    async def sink(batch: list[DeliveryRecord]) -> None:
        records.extend(batch)

    notifier = Notifier(receivers, policy=policy, timing=timing, record_sink=sink)
    await notifier.start()
    pending = [asyncio.Event() for _ in alerts]
    for item, event in zip(alerts, pending, strict=True):
        notifier.submit(item, event.set)
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in pending)), 30)
    await asyncio.sleep(settle_s)
    await notifier.stop()
    return records, notifier


def outcomes(records: list[DeliveryRecord]) -> list[tuple[str, int]]:
    return [(r.outcome, r.http_status) for r in records]


def test_signature_verifies_with_the_secret_only(server: WebhookReceiver) -> None:
    records, _ = asyncio.run(deliver([hook(server.url())], [alert(seq=3)]))
    (req,) = server.requests
    ts, sig = req.headers["X-Megawatch-Timestamp"], req.headers["X-Megawatch-Signature"]
    now = float(ts)
    assert verify(SECRET, ts, sig, req.body, now=now)
    assert not verify("another-secret", ts, sig, req.body, now=now)
    assert req.headers["Idempotency-Key"] == f"{1:016x}:3"
    assert req.json()["alerts"][0]["summary"].startswith("fra1 draws")
    assert outcomes(records) == [("delivered", 200)]
    assert records[0].attempt == 1 and records[0].latency_ms > 0


def test_retry_after_500_then_success(server: WebhookReceiver) -> None:
    server.script(Reply(500, body="boom"))
    records, _ = asyncio.run(deliver([hook(server.url())], [alert()]))
    assert [r.status for r in server.requests] == [500, 200]
    assert len({r.headers["Idempotency-Key"] for r in server.requests}) == 1
    assert outcomes(records) == [("retry", 500), ("delivered", 200)]
    assert records[0].error == "HTTP 500: boom"
    assert [r.attempt for r in records] == [1, 2]


def test_retry_after_timeout_then_success(server: WebhookReceiver) -> None:
    server.script(Reply(200, delay_s=1.5))
    policy = RetryPolicy(give_up_s=10, initial_backoff_s=0.02, request_timeout_s=0.3)
    records, _ = asyncio.run(deliver([hook(server.url())], [alert()], policy))
    assert outcomes(records) == [("retry", 0), ("delivered", 200)]
    assert records[0].error == "timeout after 0.3s"


def test_no_retry_after_400(server: WebhookReceiver) -> None:
    server.script(Reply(400, body="bad signature"))
    records, notifier = asyncio.run(deliver([hook(server.url())], [alert()]))
    assert len(server.requests) == 1
    assert outcomes(records) == [("failed", 400)]
    assert records[0].error == "HTTP 400: bad signature"
    assert notifier.stats()["receivers"]["hook"]["failed"] == 1


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(server: WebhookReceiver, status: int) -> None:
    server.script(Reply(status, headers={"Retry-After": "1"}))
    records, _ = asyncio.run(deliver([hook(server.url())], [alert()]))
    first, second = server.requests
    # Our own back-off would have waited at most 0.1 s (FAST); the receiver asked for 1 s.
    assert second.at - first.at >= 0.95
    assert outcomes(records) == [("retry", status), ("delivered", 200)]


def test_give_up_goes_to_dead_letter(
    server: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    server.default = Reply(503, body="down for maintenance")
    policy = RetryPolicy(give_up_s=0.5, initial_backoff_s=0.05, max_backoff_s=0.1)
    with caplog.at_level(logging.INFO, logger="pipeline.notify"):
        records, notifier = asyncio.run(deliver([hook(server.url())], [alert()], policy))
    assert len(server.requests) >= 3
    *retries, last = records
    assert {r.outcome for r in retries} == {"retry"}
    assert (last.outcome, last.http_status) == ("gave_up", 503)
    assert last.error.startswith(f"gave up after {len(server.requests)} attempt(s)")
    assert last.error.endswith("last: HTTP 503: down for maintenance")
    assert notifier.stats()["receivers"]["hook"]["gave_up"] == 1
    dead = [r for r in caplog.records if "dead letter" in r.getMessage()]
    assert len(dead) == 1 and dead[0].levelno == logging.ERROR


def test_connection_errors_are_retried() -> None:
    with WebhookReceiver() as closed:
        url = closed.url()
    policy = RetryPolicy(give_up_s=0.3, initial_backoff_s=0.05, max_backoff_s=0.1)
    records, _ = asyncio.run(deliver([hook(url)], [alert()], policy))
    assert len(records) >= 2
    assert {r.http_status for r in records} == {0}
    assert "ConnectError" in records[0].error
    assert records[-1].outcome == "gave_up"


def test_a_slow_receiver_does_not_delay_the_others(server: WebhookReceiver) -> None:
    with WebhookReceiver(Reply(200, delay_s=1.5)) as slow:
        receivers = [hook(slow.url(), "slow"), hook(server.url(), "fast")]
        records, _ = asyncio.run(deliver(receivers, [alert()]))
    by_name = {r.receiver: r for r in records}
    assert by_name["fast"].outcome == by_name["slow"].outcome == "delivered"
    # The fast receiver was done before the slow one had even answered.
    assert by_name["fast"].at < by_name["slow"].at
    assert server.requests[0].at < slow.requests[0].at + 1.0


def test_a_group_stuck_in_retries_does_not_hold_back_other_groups(
    server: WebhookReceiver,
) -> None:
    server.decide = lambda body: Reply(503) if b'"site":"ams2"' in body else None
    policy = RetryPolicy(give_up_s=1.0, initial_backoff_s=0.05, max_backoff_s=0.1)
    order: list[str] = []

    async def scenario() -> None:
        notifier = Notifier([hook(server.url())], policy=policy, timing=NOW_WAIT)
        await notifier.start()
        stuck, free = asyncio.Event(), asyncio.Event()
        notifier.submit(alert(1, site="ams2"), lambda: (order.append("ams2"), stuck.set()))
        notifier.submit(alert(2, site="fra1"), lambda: (order.append("fra1"), free.set()))
        await asyncio.wait_for(asyncio.gather(stuck.wait(), free.wait()), 10)
        await notifier.stop()

    asyncio.run(scenario())
    assert order == ["fra1", "ams2"]  # ams2 was queued first but gave up only later
    assert sum(b'"site":"ams2"' in r.body for r in server.requests) >= 3


def test_a_storm_becomes_one_notification_per_site_and_rule(server: WebhookReceiver) -> None:
    storm = [alert(n) for n in range(1, 6)] + [alert(9, site="ams2")]
    timing = ChannelTiming(group_wait_s=0.3, max_alerts=3)
    records, _ = asyncio.run(deliver([hook(server.url())], storm, timing=timing))
    bodies = sorted((r.json() for r in server.requests), key=lambda b: b["group"]["site"])
    assert [(b["group"]["site"], len(b["alerts"]), b["truncated_alerts"]) for b in bodies] == [
        ("ams2", 1, 0),
        ("fra1", 3, 2),
    ]
    assert len(records) == 6 and {r.outcome for r in records} == {"delivered"}
    assert sum(r.error.startswith("truncated") for r in records) == 2


def test_firing_then_resolved_keep_their_order(server: WebhookReceiver) -> None:
    firing = alert(seq=0)
    resolved = alert(seq=1, status="resolved", ends_at=datetime.now(UTC))
    timing = ChannelTiming(group_wait_s=0.2)
    asyncio.run(deliver([hook(server.url())], [firing, resolved], timing=timing))
    assert [r.headers["Idempotency-Key"] for r in server.requests] == [
        f"{1:016x}:0",
        f"{1:016x}:1",
    ]
    assert [r.json()["status"] for r in server.requests] == ["firing", "resolved"]


def test_still_firing_alerts_are_repeated(server: WebhookReceiver) -> None:
    timing = ChannelTiming(group_wait_s=0.0, repeat_interval_s=0.3)
    started = alert(starts_at=datetime.now(UTC))
    asyncio.run(deliver([hook(server.url())], [started], timing=timing, settle_s=1.0))
    keys = [r.headers["Idempotency-Key"] for r in server.requests]
    assert keys[0] == f"{1:016x}:0"
    assert len(keys) >= 2
    assert all(k.startswith(f"{1:016x}:0:r") for k in keys[1:])
    assert len(set(keys)) == len(keys)  # each reminder has its own key
    assert {r.json()["purpose"] for r in server.requests[1:]} == {"repeat"}


def test_no_reminders_after_a_resolve_that_is_not_sent(server: WebhookReceiver) -> None:
    receiver = hook(server.url(), send_resolved=False)
    timing = ChannelTiming(group_wait_s=0.0, repeat_interval_s=0.2)

    async def scenario() -> None:
        notifier = Notifier([receiver], policy=FAST, timing=timing)
        await notifier.start()
        done = asyncio.Event()
        notifier.submit(alert(seq=0), done.set)
        await asyncio.wait_for(done.wait(), 10)
        notifier.submit(alert(seq=1, status="resolved", ends_at=datetime.now(UTC)))
        await asyncio.sleep(0.8)  # four repeat intervals
        await notifier.stop()

    asyncio.run(scenario())
    assert [r.headers["Idempotency-Key"] for r in server.requests] == [f"{1:016x}:0"]


def test_slack_and_alertmanager_webhook_formats(server: WebhookReceiver) -> None:
    receivers = [
        Receiver(name="chat", kind=ReceiverKind.slack, url=server.url("/slack")),
        Receiver(name="amhook", kind=ReceiverKind.alertmanager_webhook, url=server.url("/am")),
    ]
    records, _ = asyncio.run(deliver(receivers, [alert()]))
    by_path = {r.path: r for r in server.requests}
    assert "fra1 draws 10.4 MW" in by_path["/slack"].json()["text"]
    assert by_path["/am"].json()["version"] == "4"
    assert by_path["/am"].json()["alerts"][0]["labels"]["alertname"] == "site_power_cap"
    assert all("X-Megawatch-Signature" not in r.headers for r in server.requests)
    assert {r.receiver_kind for r in records} == {"slack", "alertmanager_webhook"}


def test_urls_and_secrets_never_reach_logs_or_records(
    server: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    token_path = "/services/T0001/B0002/tok3nXYZ"
    # Receivers that echo the request URL in their error, as some do.
    server.default = Reply(500, body=f"invalid token for {token_path}")
    receivers = [
        Receiver(name="chat", kind=ReceiverKind.slack, url=server.url(token_path)),
        hook(server.url("/h?token=qs-tok3n"), "hook"),
    ]
    policy = RetryPolicy(give_up_s=0.3, initial_backoff_s=0.05, max_backoff_s=0.1)
    with WebhookReceiver(Reply(500, body="bad /h?token=qs-tok3n")) as other:
        receivers[1] = hook(other.url("/h?token=qs-tok3n"), "hook")
        with caplog.at_level(logging.DEBUG):
            records, _ = asyncio.run(deliver(receivers, [alert()], policy))
    assert {r.outcome for r in records} >= {"retry", "gave_up"}
    text = caplog.text + "".join(r.error for r in records)
    for secret in ("tok3nXYZ", "qs-tok3n", SECRET):
        assert secret not in text
    assert "receiver chat (http://127.0.0.1" in caplog.text
