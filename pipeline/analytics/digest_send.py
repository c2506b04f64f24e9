"""Deliver a digest through the configured receivers, signed like alerts.

The digest goes the alerts' way: the receivers of :func:`receivers_from_settings`, the
retry loop of :func:`pipeline.notify.delivery.deliver` (timeouts, back-off, Retry-After,
secrets scrubbed from errors), the HMAC headers of :mod:`pipeline.notify.signing`, and one
:class:`~pipeline.notify.delivery_log.DeliveryRecord` per attempt (rule ``digest``, fingerprint
= the digest id) for ``alert_deliveries``. Per receiver kind:

* ``webhook``: megawatch JSON, ``"kind": "digest"`` (:meth:`Digest.body`), with
  ``X-Megawatch-Timestamp``/``X-Megawatch-Signature`` and ``Idempotency-Key: digest:<id>``;
* ``slack``: ``{"text": ...}``, the digest's text;
* ``alertmanager_api`` / ``alertmanager_webhook``: skipped, Alertmanager takes alerts,
  not reports.

A receiver with filters gets the digest only if they let an ``info`` alert of rule
``digest`` at site ``fleet`` (or the digest's site) through.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import orjson

from pipeline.analytics.digest import Digest
from pipeline.events import Alert, AlertStatus, Severity
from pipeline.notify.delivery import Attempt, deliver
from pipeline.notify.delivery_log import DeliveryRecord
from pipeline.notify.payloads import Request
from pipeline.notify.receivers import Receiver, ReceiverKind, receivers_from_settings
from pipeline.notify.retry import RetryPolicy
from pipeline.notify.signing import IDEMPOTENCY_HEADER, signed_headers
from pipeline.settings import Settings

logger = logging.getLogger(__name__)

DIGEST_RULE = "digest"
TAKES_DIGESTS = (ReceiverKind.webhook, ReceiverKind.slack)


@dataclass(frozen=True)
class DigestDelivery:
    """What happened at one receiver: its last attempt, or why it was skipped."""

    receiver: str
    outcome: str  # delivered | failed | gave_up | skipped
    http_status: int
    attempts: int
    detail: str


def as_alert(digest: Digest) -> Alert:
    """The digest as receivers' filters see it (an info alert of rule ``digest``)."""
    return Alert(
        fingerprint=digest.digest_id,
        rule=DIGEST_RULE,
        severity=Severity.info,
        status=AlertStatus.firing,
        site=digest.site or "fleet",
        value=float(len(digest.findings)),
        threshold=0.0,
        starts_at=digest.start,
        summary=digest.headline[:1024],
    )


def skip_reason(receiver: Receiver, digest: Digest) -> str | None:
    """Why ``receiver`` does not get ``digest``; None when it does."""
    if receiver.kind not in TAKES_DIGESTS:
        return f"{receiver.kind.value} takes alerts, not digests"
    if not receiver.match.accepts(as_alert(digest)):
        return "its filters (severity/site/rule) leave the digest out"
    return None


def build_request(receiver: Receiver, digest: Digest, now: datetime) -> Request:
    """One attempt's request; rebuilt per attempt so that the signature time is fresh."""
    if receiver.kind is ReceiverKind.slack:
        payload: object = {"text": digest.text()}
    else:
        payload = digest.body(receiver.name, now)
    body = orjson.dumps(payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "megawatch-digest",
        IDEMPOTENCY_HEADER: f"digest:{digest.digest_id}",
    }
    if receiver.kind is ReceiverKind.webhook and receiver.secret is not None:
        headers.update(
            signed_headers(receiver.secret.get_secret_value(), int(now.timestamp()), body)
        )
    return Request(receiver.target_url, headers, body)


async def send_digest(
    digest: Digest,
    settings: Settings,
    receivers: Sequence[Receiver] | None = None,
    *,
    give_up_s: float | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> tuple[list[DigestDelivery], list[DeliveryRecord]]:
    """Send ``digest`` to every receiver that takes it, concurrently; returns one outcome
    per receiver and the delivery records of every attempt."""
    chosen = list(receivers) if receivers is not None else receivers_from_settings(settings)
    policy = RetryPolicy(
        give_up_s=give_up_s or settings.notify_give_up_s,
        max_backoff_s=settings.notify_backoff_max_s,
        request_timeout_s=settings.notify_request_timeout_s,
    )
    records: list[DeliveryRecord] = []
    async with httpx.AsyncClient(
        timeout=policy.request_timeout_s, transport=transport, follow_redirects=False
    ) as client:
        outcomes = await asyncio.gather(*(_one(client, r, digest, policy, records) for r in chosen))
    return list(outcomes), records


async def _one(
    client: httpx.AsyncClient,
    receiver: Receiver,
    digest: Digest,
    policy: RetryPolicy,
    records: list[DeliveryRecord],
) -> DigestDelivery:
    reason = skip_reason(receiver, digest)
    if reason is not None:
        return DigestDelivery(receiver.name, "skipped", 0, 0, reason)

    def on_attempt(attempt: Attempt) -> None:
        records.append(_record(receiver, digest, attempt))
        if attempt.outcome != "delivered":
            logger.info(
                "digest %s to receiver %s (%s): attempt %s %s: %s",
                digest.digest_id,
                receiver.name,
                receiver.display_url,
                attempt.number,
                attempt.outcome,
                attempt.error,
            )

    final = await deliver(
        client,
        lambda now: build_request(receiver, digest, now),
        policy,
        time.monotonic(),
        on_attempt,
        receiver.secrets(),
    )
    return DigestDelivery(
        receiver.name, final.outcome, final.http_status, final.number, final.error
    )


def _record(receiver: Receiver, digest: Digest, attempt: Attempt) -> DeliveryRecord:
    return DeliveryRecord.of_attempt(
        receiver,
        attempt,
        fingerprint=digest.digest_id,
        seq=0,
        status=DIGEST_RULE,
        rule=DIGEST_RULE,
        site=digest.site or "fleet",
        at=datetime.now(UTC),
    )
