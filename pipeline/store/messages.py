"""Library errors as one-line, secret-free messages (the edge where StoreError is born)."""

from __future__ import annotations

import re

_VERSION_TRAILER = re.compile(r"\s*\(version [^)]*\)+\s*$")
_REPEATED_CODE = re.compile(r"^(Code: \d+\. DB::Exception: )\1")
_MAX_MESSAGE = 400


def one_line(exc: BaseException, secrets: tuple[str, ...] = ()) -> str:
    """``exc`` as one short line, without ClickHouse's version trailer or any secret."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = _VERSION_TRAILER.sub("", text)
    # chDB repeats the prefix: "Code: 60. DB::Exception: Code: 60. DB::Exception: ..."
    text = _REPEATED_CODE.sub(r"\1", text)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."
