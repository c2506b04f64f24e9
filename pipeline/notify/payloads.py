"""Request bodies per receiver kind (pure): megawatch JSON, Alertmanager, Slack.

Every body is versioned: the generic webhook carries ``"version": "1"`` (megawatch's
own envelope, always a group, possibly of one), the Alertmanager webhook ``"version":
"4"`` (its webhook format, so existing consumers work unchanged). Requests are rebuilt
for every attempt, so that the signature timestamp is fresh and a firing alert's
``endsAt`` on the Alertmanager API always lies ahead of now.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from pipeline.events import Alert, AlertStatus
from pipeline.notify.notification import Notification
from pipeline.notify.receivers import Receiver, ReceiverKind
from pipeline.notify.signing import IDEMPOTENCY_HEADER, signed_headers
from pipeline.notify.slack import slack_message

GENERIC_VERSION = "1"
ALERTMANAGER_WEBHOOK_VERSION = "4"
#: Alertmanager's "not ended" time for firing alerts in webhook payloads.
ZERO_TIME = "0001-01-01T00:00:00Z"
#: As Prometheus: a firing alert pushed to the API is valid for 4 resend intervals.
VALID_FOR_RESENDS = 4


@dataclass(frozen=True)
class PayloadContext:
    external_url: str
    resend_s: float


@dataclass(frozen=True)
class Request:
    url: str
    headers: dict[str, str]
    body: bytes


def rfc3339(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_request(
    receiver: Receiver, notification: Notification, ctx: PayloadContext, now: datetime
) -> Request:
    """The request for one attempt of ``notification`` at time ``now``."""
    body = orjson.dumps(_BODIES[receiver.kind](receiver, notification, ctx, now))
    headers = {"Content-Type": "application/json", "User-Agent": "megawatch-notifier"}
    if receiver.kind is not ReceiverKind.alertmanager_api:
        headers[IDEMPOTENCY_HEADER] = notification.idempotency_key
    if receiver.kind is ReceiverKind.webhook and receiver.secret is not None:
        secret = receiver.secret.get_secret_value()
        headers.update(
            signed_headers(
                secret,
                int(now.timestamp()),
                body,
                receiver.signature,
                notification.idempotency_key,
            )
        )
    return Request(receiver.target_url, headers, body)


def generic_body(
    receiver: Receiver, n: Notification, ctx: PayloadContext, now: datetime
) -> dict[str, Any]:
    """megawatch's envelope: the alerts as on the ``alerts`` topic, plus delivery facts."""
    alerts = [
        {**alert.model_dump(mode="json"), "idempotency_key": n.key_of(alert)} for alert in n.listed
    ]
    return {
        "version": GENERIC_VERSION,
        "receiver": receiver.name,
        "group": {"site": n.group.site, "rule": n.group.rule},
        "status": n.status.value,
        "purpose": n.purpose.value,
        "test": n.test,
        "sent_at": rfc3339(now),
        "truncated_alerts": n.truncated,
        "alerts": alerts,
    }


def alertmanager_labels(alert: Alert) -> dict[str, str]:
    labels = {"alertname": alert.rule, "site": alert.site, "severity": alert.severity.value}
    for name in ("link", "peer_site", "rack", "domain"):
        value = getattr(alert, name)
        if value:
            labels[name] = value
    if alert.test:
        labels["test"] = "true"  # lets an Alertmanager route drop or redirect tests
    return labels


def alertmanager_annotations(alert: Alert) -> dict[str, str]:
    notes = {
        "summary": alert.summary,
        "value": f"{alert.value:g}",
        "threshold": f"{alert.threshold:g}",
        "fingerprint": alert.fingerprint,
    }
    if alert.forecast_at is not None:
        notes["forecast_at"] = rfc3339(alert.forecast_at)
    return notes


def _common(maps: list[dict[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first = maps[0]
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in maps[1:])}


def alertmanager_webhook_body(
    receiver: Receiver, n: Notification, ctx: PayloadContext, now: datetime
) -> dict[str, Any]:
    """Alertmanager's webhook payload, version 4, field for field."""
    alerts = [_webhook_alert(alert, ctx, now) for alert in n.listed]
    return {
        "version": ALERTMANAGER_WEBHOOK_VERSION,
        "groupKey": str(n.group),
        "truncatedAlerts": n.truncated,
        "status": n.status.value,
        "receiver": receiver.name,
        "groupLabels": {"alertname": n.group.rule, "site": n.group.site},
        "commonLabels": _common([a["labels"] for a in alerts]),
        "commonAnnotations": _common([a["annotations"] for a in alerts]),
        "externalURL": ctx.external_url,
        "alerts": alerts,
    }


def _webhook_alert(alert: Alert, ctx: PayloadContext, now: datetime) -> dict[str, Any]:
    resolved = alert.status is AlertStatus.resolved
    return {
        "status": alert.status.value,
        "labels": alertmanager_labels(alert),
        "annotations": alertmanager_annotations(alert),
        "startsAt": rfc3339(alert.starts_at),
        "endsAt": rfc3339(alert.ends_at or now) if resolved else ZERO_TIME,
        "generatorURL": ctx.external_url,
        "fingerprint": alert.fingerprint,
    }


def alertmanager_api_body(
    receiver: Receiver, n: Notification, ctx: PayloadContext, now: datetime
) -> list[dict[str, Any]]:
    """Postable alerts for ``POST /api/v2/alerts``, as Prometheus sends them.

    Alertmanager groups, truncates and repeats by itself, so every alert is sent. A firing
    alert gets ``endsAt`` = now + 4 resend intervals: if megawatch stops re-sending it,
    Alertmanager resolves it on its own; a resolved one gets its real end.
    """
    valid_until = now + timedelta(seconds=VALID_FOR_RESENDS * ctx.resend_s)
    return [
        {
            "labels": alertmanager_labels(alert),
            "annotations": alertmanager_annotations(alert),
            "startsAt": rfc3339(alert.starts_at),
            "endsAt": rfc3339(
                valid_until if alert.status is AlertStatus.firing else alert.ends_at or now
            ),
            "generatorURL": ctx.external_url,
        }
        for alert in n.all_alerts
    ]


def slack_body(
    receiver: Receiver, n: Notification, ctx: PayloadContext, now: datetime
) -> dict[str, Any]:
    return slack_message(n, now)


_BODIES: dict[ReceiverKind, Callable[[Receiver, Notification, PayloadContext, datetime], Any]] = {
    ReceiverKind.webhook: generic_body,
    ReceiverKind.alertmanager_webhook: alertmanager_webhook_body,
    ReceiverKind.alertmanager_api: alertmanager_api_body,
    ReceiverKind.slack: slack_body,
}
