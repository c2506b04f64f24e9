"""The Standard Webhooks scheme, checked by the reference library (`standardwebhooks`)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr
from standardwebhooks import Webhook, WebhookVerificationError

from pipeline.notify.signing import signed_headers, verify


def standard_secret(secret: str) -> str:
    """The secret in the ``whsec_<base64>`` form that the reference library takes."""
    if secret.startswith("whsec_"):
        return secret
    return "whsec_" + base64.b64encode(secret.encode()).decode()


def test_standard_headers_verify_with_the_reference_library() -> None:
    body = b'{"version": "1", "alerts": []}'
    now = int(datetime.now(UTC).timestamp())
    headers = signed_headers("s3cret", now, body, "standard", "9f86d081884c7d65:1")
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert Webhook(standard_secret("s3cret")).verify(body, headers) == {
        "version": "1",
        "alerts": [],
    }
    with pytest.raises(WebhookVerificationError):
        Webhook(standard_secret("wrong")).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(standard_secret("s3cret")).verify(body + b" ", headers)


def test_a_whsec_secret_is_used_as_given() -> None:
    secret = "whsec_" + base64.b64encode(b"\x00\x01 binary key").decode()
    body = b"{}"
    headers = signed_headers(secret, int(datetime.now(UTC).timestamp()), body, "standard", "id-1")
    Webhook(secret).verify(body, headers)


def test_both_schemes_at_once_and_megawatch_by_default() -> None:
    body = b"{}"
    now = int(datetime.now(UTC).timestamp())
    both = signed_headers("k", now, body, "both", "id-2")
    Webhook(standard_secret("k")).verify(body, both)
    assert verify("k", both["X-Megawatch-Timestamp"], both["X-Megawatch-Signature"], body, now)
    assert set(signed_headers("k", now, body)) == {
        "X-Megawatch-Timestamp",
        "X-Megawatch-Signature",
    }


def test_the_setting_reaches_the_request(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.notify.receivers import receivers_from_settings
    from pipeline.settings import Settings

    settings = Settings(
        webhook_urls=["http://127.0.0.1:9/hook"],
        webhook_secret=SecretStr("s3cret"),
        webhook_signature="standard",
    )
    [receiver] = receivers_from_settings(settings)
    assert receiver.signature == "standard"


def test_a_standard_webhook_request_verifies_with_the_library() -> None:
    from test_notify_payloads import CTX, alert, notification, receiver

    from pipeline.notify.payloads import build_request
    from pipeline.notify.receivers import ReceiverKind

    now = datetime.now(UTC)
    rx = receiver(ReceiverKind.webhook, secret=SecretStr("k"), signature="standard")
    request = build_request(rx, notification(alert()), CTX, now)
    assert request.headers["webhook-id"] == request.headers["Idempotency-Key"]
    assert "X-Megawatch-Signature" not in request.headers
    assert Webhook(standard_secret("k")).verify(request.body, request.headers)["alerts"]
