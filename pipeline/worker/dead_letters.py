"""The dead-letter record of one :class:`pipeline.core.decode.Reject`, bounded in size.

A dead letter must always fit on its topic, whatever it reports: the offending bytes
may be a message over the size limit, a 1 MB id, or bytes that JSON escapes six-fold
(control characters). Beyond :data:`MAX_RAW_BYTES` the record keeps a prefix of them
with their size and SHA-256 (enough to find and compare the original), so a dead letter
is at most a few hundred KB, well under any broker's message limit.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Literal

from pipeline.core.decode import Reject
from pipeline.events import DeadLetter

#: Offending bytes kept whole up to this size; beyond it, a prefix of this size.
MAX_RAW_BYTES = 65_536
#: The longest message key carried into a dead letter (as its Kafka key and its field).
MAX_KEY_BYTES = 256
_MAX_REASON = 1024


def dead_letter_record(
    topic: str, partition: int, offset: int, key: bytes | None, reject: Reject
) -> bytes:
    """The JSON of the dead letter for ``reject`` of message ``topic[partition]@offset``."""
    raw = reject.raw
    size: int | None = None
    digest: str | None = None
    if len(raw) > MAX_RAW_BYTES:
        size, digest = len(raw), hashlib.sha256(raw).hexdigest()
        raw = raw[:MAX_RAW_BYTES]
    text, encoding = _as_text(raw, cut=size is not None)
    record = DeadLetter(
        reason=reject.reason[:_MAX_REASON] or reject.code,
        topic=topic,
        partition=partition,
        offset=offset,
        raw=text,
        raw_encoding=encoding,
        index=reject.index,
        key=key[:MAX_KEY_BYTES].decode("utf-8", errors="replace") if key else None,
        received_at=datetime.now(UTC),
        reason_code=reject.code,
        raw_size=size,
        raw_sha256=digest,
    )
    return record.model_dump_json(exclude_none=True).encode()


def _as_text(raw: bytes, *, cut: bool) -> tuple[str, Literal["utf-8", "base64"]]:
    """UTF-8 text when the bytes are (a prefix cut inside a character still is), else base64."""
    for trim in range(4 if cut else 1):
        try:
            return raw[: len(raw) - trim].decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            continue
    return base64.b64encode(raw).decode(), "base64"
