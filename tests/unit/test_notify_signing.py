"""Webhook signatures: what the sender computes, and the receiver check of docs/alerts.md."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.notify.signing import signature, signed_headers, verify

SECRET = "s3cr3t-for-tests"
BODY = b'{"version":"1","alerts":[]}'


def _docs_verify() -> Callable[[str, dict[str, str], bytes], bool]:
    """The receiver snippet of docs/alerts.md, executed as written there."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "alerts.md").read_text()
    block = text.split("```python\nimport hashlib, hmac, time\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec("import hashlib, hmac, time\n" + block, namespace)
    return namespace["verify"]  # type: ignore[no-any-return]


readme_verify = _docs_verify()


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
