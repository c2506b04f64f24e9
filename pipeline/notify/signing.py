"""HMAC signatures of generic webhook requests (pure).

The signed message is ``"<timestamp>.<body>"``, where the timestamp is the value of the
``X-Megawatch-Timestamp`` header (unix seconds) and the body the exact bytes sent, so a
receiver can verify before parsing and reject replays by age. docs/alerts.md shows the
receiver side in ten lines; :func:`verify` is the same check, used by the tests.

Optionally (MEGAWATCH_WEBHOOK_SIGNATURE=standard or both) requests also carry the
Standard Webhooks headers (https://www.standardwebhooks.com): ``webhook-id``,
``webhook-timestamp`` and ``webhook-signature: v1,<base64 HMAC-SHA256 of
"<id>.<timestamp>.<body>">``, so a receiver verifies with a stock library. The key is the
secret's bytes; a secret written ``whsec_<base64>`` is that key, base64-decoded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Literal

#: which headers sign a generic webhook request (MEGAWATCH_WEBHOOK_SIGNATURE)
SignatureScheme = Literal["megawatch", "standard", "both"]
STANDARD_ID_HEADER = "webhook-id"
STANDARD_TIMESTAMP_HEADER = "webhook-timestamp"
STANDARD_SIGNATURE_HEADER = "webhook-signature"
STANDARD_SECRET_PREFIX = "whsec_"

TIMESTAMP_HEADER = "X-Megawatch-Timestamp"
SIGNATURE_HEADER = "X-Megawatch-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SIGNATURE_PREFIX = "sha256="
DEFAULT_MAX_AGE_S = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Megawatch-Signature`` value: ``sha256=<hex HMAC-SHA256>``."""
    message = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def signed_headers(
    secret: str,
    timestamp: int,
    body: bytes,
    scheme: SignatureScheme = "megawatch",
    message_id: str = "",
) -> dict[str, str]:
    """The signature headers of ``scheme``; ``message_id`` is Standard Webhooks'
    ``webhook-id`` (the idempotency key: the same for every attempt of a message)."""
    headers: dict[str, str] = {}
    if scheme in ("megawatch", "both"):
        headers[TIMESTAMP_HEADER] = str(timestamp)
        headers[SIGNATURE_HEADER] = signature(secret, timestamp, body)
    if scheme in ("standard", "both"):
        headers[STANDARD_ID_HEADER] = message_id
        headers[STANDARD_TIMESTAMP_HEADER] = str(timestamp)
        headers[STANDARD_SIGNATURE_HEADER] = standard_signature(secret, message_id, timestamp, body)
    return headers


def standard_key(secret: str) -> bytes:
    """The HMAC key of a secret: ``whsec_<base64>`` decoded, any other text as UTF-8."""
    if secret.startswith(STANDARD_SECRET_PREFIX):
        return base64.b64decode(secret.removeprefix(STANDARD_SECRET_PREFIX))
    return secret.encode()


def standard_signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,<base64 HMAC-SHA256>``."""
    message = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(standard_key(secret), message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(
    secret: str,
    timestamp_header: str | None,
    signature_header: str | None,
    body: bytes,
    now: float,
    max_age_s: float = DEFAULT_MAX_AGE_S,
) -> bool:
    """True when the signature matches and the timestamp is within ``max_age_s`` of now."""
    if not timestamp_header or not signature_header or not timestamp_header.isdigit():
        return False
    timestamp = int(timestamp_header)
    if abs(now - timestamp) > max_age_s:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), signature_header)
