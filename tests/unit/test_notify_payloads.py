"""Request bodies per receiver kind: megawatch v1, Alertmanager v4 webhook and API, Slack."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
from pydantic import SecretStr

from pipeline.events import Alert
from pipeline.notify.notification import GroupKey, Notification, Purpose
from pipeline.notify.payloads import PayloadContext, alertmanager_labels, build_request
from pipeline.notify.receivers import Receiver, ReceiverKind
from pipeline.notify.signing import verify

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
START = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CTX = PayloadContext("https://megawatch.example", resend_s=60)


def alert(fp: str = "0123456789abcdef", **changes: object) -> Alert:
    base = {
        "fingerprint": fp,
        "rule": "link_loss",
        "severity": "warning",
        "status": "firing",
        "site": "fra1",
        "value": 0.012,
        "threshold": 0.01,
        "starts_at": START,
        "summary": "wan link fra1-ams2 drops 1.2% of packets",
        "link": "wan-ams2",
        "peer_site": "ams2",
        "seq": 1,
    }
    return Alert.model_validate(base | changes)


def receiver(kind: ReceiverKind, **extra: object) -> Receiver:
    return Receiver(name=f"r-{kind.value}", kind=kind, url="http://rx.example/hook", **extra)


def notification(*alerts: Alert, left_out: tuple[Alert, ...] = (), **kw: object) -> Notification:
    return Notification(
        "r",
        GroupKey.of(alerts[0]),
        tuple(alerts),
        left_out,
        **kw,  # type: ignore[arg-type]
    )


def test_generic_webhook_is_signed_versioned_and_keyed() -> None:
    rx = receiver(ReceiverKind.webhook, secret=SecretStr("k"))
    a, b = alert(), alert("fedcba9876543210", seq=4, status="resolved", ends_at=NOW)
    req = build_request(rx, notification(a, b), CTX, NOW)
    body = orjson.loads(req.body)
    assert req.headers["Idempotency-Key"] == "0123456789abcdef:1, fedcba9876543210:4"
    ts = req.headers["X-Megawatch-Timestamp"]
    assert ts == str(int(NOW.timestamp()))
    assert verify("k", ts, req.headers["X-Megawatch-Signature"], req.body, now=NOW.timestamp())
    assert body["version"] == "1"
    assert body["status"] == "firing"
    assert body["group"] == {"site": "fra1", "rule": "link_loss"}
    assert body["truncated_alerts"] == 0
    assert [x["idempotency_key"] for x in body["alerts"]] == [
        "0123456789abcdef:1",
        "fedcba9876543210:4",
    ]
    # The alerts are the topic's own JSON: a consumer of `alerts` reads them the same way.
    assert Alert.model_validate(body["alerts"][1]) == b


def test_repeats_get_their_own_keys_and_truncation_is_counted() -> None:
    rx = receiver(ReceiverKind.webhook, secret=SecretStr("k"))
    n = notification(
        alert(),
        left_out=(alert("1111111111111111"),),
        purpose=Purpose.repeat,
        repeats={"0123456789abcdef": 3},
    )
    req = build_request(rx, n, CTX, NOW)
    body = orjson.loads(req.body)
    assert req.headers["Idempotency-Key"] == "0123456789abcdef:1:r3"
    assert body["purpose"] == "repeat"
    assert body["truncated_alerts"] == 1
    assert len(body["alerts"]) == 1


def test_alertmanager_webhook_payload_v4() -> None:
    rx = receiver(ReceiverKind.alertmanager_webhook)
    resolved = alert("fedcba9876543210", status="resolved", ends_at=NOW, link="wan-par1")
    body = orjson.loads(build_request(rx, notification(alert(), resolved), CTX, NOW).body)
    assert body["version"] == "4"
    assert body["groupKey"] == '{}:{alertname="link_loss", site="fra1"}'
    assert body["status"] == "firing"
    assert body["receiver"] == "r-alertmanager_webhook"
    assert body["groupLabels"] == {"alertname": "link_loss", "site": "fra1"}
    assert body["commonLabels"] == {
        "alertname": "link_loss",
        "site": "fra1",
        "severity": "warning",
        "peer_site": "ams2",
    }
    assert body["commonAnnotations"] == {
        "threshold": "0.01",
        "value": "0.012",
        "summary": "wan link fra1-ams2 drops 1.2% of packets",
    }
    assert body["externalURL"] == "https://megawatch.example"
    assert body["truncatedAlerts"] == 0
    first, second = body["alerts"]
    assert set(first) == {
        "status",
        "labels",
        "annotations",
        "startsAt",
        "endsAt",
        "generatorURL",
        "fingerprint",
    }
    assert first["startsAt"] == "2026-11-20T12:00:00.000Z"
    assert first["endsAt"] == "0001-01-01T00:00:00Z"
    assert second["status"] == "resolved"
    assert second["endsAt"] == "2026-11-20T12:30:00.000Z"
    assert second["fingerprint"] == "fedcba9876543210"
    assert "X-Megawatch-Signature" not in build_request(rx, notification(alert()), CTX, NOW).headers


def test_alertmanager_api_payload_like_prometheus() -> None:
    rx = receiver(ReceiverKind.alertmanager_api)
    resolved = alert("fedcba9876543210", status="resolved", ends_at=NOW - timedelta(seconds=5))
    req = build_request(rx, notification(alert(), left_out=(resolved,)), CTX, NOW)
    assert req.url == "http://rx.example/hook/api/v2/alerts"
    firing, done = orjson.loads(req.body)  # nothing is truncated: Alertmanager groups itself
    assert firing["labels"] == {
        "alertname": "link_loss",
        "site": "fra1",
        "severity": "warning",
        "link": "wan-ams2",
        "peer_site": "ams2",
    }
    assert firing["annotations"]["summary"].startswith("wan link")
    assert firing["annotations"]["value"] == "0.012"
    assert firing["annotations"]["threshold"] == "0.01"
    assert firing["endsAt"] == "2026-11-20T12:34:00.000Z"  # now + 4 resend intervals
    assert done["endsAt"] == "2026-11-20T12:29:55.000Z"
    assert "Idempotency-Key" not in req.headers


def test_slack_message_is_readable() -> None:
    rx = receiver(ReceiverKind.slack)
    power = alert(
        rule="site_power_cap",
        severity="critical",
        value=10.52e6,
        threshold=10e6,
        link=None,
        peer_site=None,
        summary="fra1 over its cap",
    )
    n = notification(power, left_out=(alert("1111111111111111"),) * 2)
    text = orjson.loads(build_request(rx, n, CTX, NOW).body)["text"]
    header, line, footer = text.splitlines()
    assert header == "[FIRING] site_power_cap at fra1"
    assert "*CRITICAL* site_power_cap at site *fra1*: fra1 over its cap" in line
    assert "value 10.52M vs threshold 10M" in line
    assert "since 2026-11-20 12:00:00 UTC (30m ago)" in line
    assert footer == "...and 2 more alert(s) not listed"


def test_test_alerts_are_marked_everywhere() -> None:
    n = notification(alert(test=True))
    slack = orjson.loads(build_request(receiver(ReceiverKind.slack), n, CTX, NOW).body)
    assert slack["text"].startswith("[TEST, not a real condition]")
    am = orjson.loads(build_request(receiver(ReceiverKind.alertmanager_api), n, CTX, NOW).body)
    assert am[0]["labels"]["test"] == "true"
    hook = receiver(ReceiverKind.webhook, secret=SecretStr("k"))
    assert orjson.loads(build_request(hook, n, CTX, NOW).body)["test"] is True


def test_a_domain_alert_carries_its_domain_label_and_field() -> None:
    hall = alert(rule="cap_critical", link=None, peer_site=None, domain="hall-1")
    assert alertmanager_labels(hall)["domain"] == "hall-1"
    body = orjson.loads(
        build_request(
            receiver(ReceiverKind.webhook),
            notification(hall),
            PayloadContext("http://mw", 60),
            datetime.now(UTC),
        ).body
    )
    assert body["alerts"][0]["domain"] == "hall-1"
    assert "domain" not in alertmanager_labels(alert())
