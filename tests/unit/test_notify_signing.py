"""Webhook signatures: what the sender computes, and the receiver check of the README."""

from __future__ import annotations

import hashlib
import hmac
import time

from pipeline.notify.signing import signature, signed_headers, verify

SECRET = "s3cr3t-for-tests"
BODY = b'{"version":"1","alerts":[]}'


def readme_verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The receiver snippet from the README, verbatim: keep the two in step."""
    ts = headers.get("X-Megawatch-Timestamp", "")
    sig = headers.get("X-Megawatch-Signature", "")
    if not ts.isdigit() or abs(time.time() - int(ts)) > 300:  # replay window: 5 minutes
        return False
    mac = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest("sha256=" + mac.hexdigest(), sig)


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert signature(SECRET, 1700000000, BODY) == f"sha256={expected}"


def test_verify_accepts_fresh_and_rejects_tampering_other_secret_and_replays() -> None:
    now = int(time.time())
    headers = signed_headers(SECRET, now, BODY)
    ts, sig = headers["X-Megawatch-Timestamp"], headers["X-Megawatch-Signature"]
    assert verify(SECRET, ts, sig, BODY, now=now)
    assert readme_verify(SECRET, headers, BODY)
    assert not verify("another-secret", ts, sig, BODY, now=now)
    assert not readme_verify("another-secret", headers, BODY)
    assert not verify(SECRET, ts, sig, BODY + b" ", now=now)
    assert not verify(SECRET, str(now + 1), sig, BODY, now=now)  # timestamp is signed too
    assert not verify(SECRET, ts, sig, BODY, now=now + 301)  # older than 5 minutes
    old = signed_headers(SECRET, now - 301, BODY)
    assert not readme_verify(SECRET, old, BODY)
    assert not verify(SECRET, None, sig, BODY, now=now)
    assert not verify(SECRET, "12a", sig, BODY, now=now)
