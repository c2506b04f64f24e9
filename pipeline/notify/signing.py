"""HMAC signatures of generic webhook requests (pure).

The signed message is ``"<timestamp>.<body>"``, where the timestamp is the value of the
``X-Megawatch-Timestamp`` header (unix seconds) and the body the exact bytes sent, so a
receiver can verify before parsing and reject replays by age. docs/alerts.md shows the
receiver side in ten lines; :func:`verify` is the same check, used by the tests.
"""

from __future__ import annotations

import hashlib
import hmac

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


def signed_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


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
