"""Library errors as one-line, secret-free messages (the edge where StoreError is born)."""

from __future__ import annotations

import re

_VERSION_TRAILER = re.compile(r"\s*\(version [^)]*\)+\s*$")
# clickhouse-connect's HTTP wrapper around the server's own message
_HTTP_PREFIX = re.compile(
    r"^(?:Received ClickHouse exception, code: \d+|HTTP driver received HTTP status \d+)"
    r", server response: "
)
_URL_TRAILER = re.compile(r"\s*\(for url [^)]*\)\s*$")
_REPEATED_CODE = re.compile(r"^(Code: \d+\. DB::Exception: )\1")
_MAX_MESSAGE = 400


def one_line(exc: BaseException, secrets: tuple[str, ...] = ()) -> str:
    """``exc`` as one short line, without ClickHouse's version trailer or any secret."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = _HTTP_PREFIX.sub("", text)
    text = _URL_TRAILER.sub("", text)
    text = _VERSION_TRAILER.sub("", text)
    # chDB repeats the prefix: "Code: 60. DB::Exception: Code: 60. DB::Exception: ..."
    text = _REPEATED_CODE.sub(r"\1", text)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."
