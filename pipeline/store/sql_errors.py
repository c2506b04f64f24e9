"""A failed query explained in terms of the user's own SQL.

clickhouse-connect appends ``FORMAT Native`` (or another format) to every query, so a
syntax error in ``SELEC 1`` is reported at "1 FORMAT Native" and a list of 40 expected
tokens follows. Here the suffix is dropped, the list cut to a few, and the user's line is
quoted with a caret under the column ClickHouse names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_FORMAT_SUFFIX = re.compile(r"\s+FORMAT (?:Native|Arrow|ArrowStream|TabSeparated\w*|JSON\w*)\b")
_POSITION = re.compile(r"failed at position (\d+)")
_EXPECTED = re.compile(r"(Expected one of: )([^.]*)\.*")
# clickhouse-connect's wrapping of the server's message, and its internal URL (chDB
# with parameters runs over a loopback HTTP server): noise to the user.
_WRAPPING = re.compile(
    r"Received ClickHouse exception, code: \d+, server response: |\s*\(for url [^)]*\)"
)
_UNKNOWN_TABLE = ("UNKNOWN_TABLE", "Unknown table")
_SHOWN_EXPECTED = 6


def explain_sql_error(message: str, sql: str, tables: Iterable[str] | None = None) -> str:
    """``message`` without megawatch's FORMAT suffix, pointing into ``sql``.

    ``tables`` are the store's tables when known: an unknown table then lists them
    (instead of suggesting a migration the store does not need); ``None`` means the
    store could not say, and an empty list that it has no tables (not migrated).
    """
    text = _WRAPPING.sub("", _FORMAT_SUFFIX.sub("", message))
    text = _EXPECTED.sub(_shorter_expected, text)
    text = text.split(": In scope SELECT formatQuery(")[0]  # the store guard's wrapper
    position = _POSITION.search(text)
    if position and sql:
        text = f"{text}\n{_caret(sql, int(position.group(1)))}"
    if any(marker in message for marker in _UNKNOWN_TABLE):
        text = f"{text} ({_table_hint(tables)})"
    return text


def _shorter_expected(match: re.Match[str]) -> str:
    options = [option.strip() for option in match.group(2).split(",")]
    if len(options) <= _SHOWN_EXPECTED:
        return f"{match.group(1)}{', '.join(options)}."
    return f"{match.group(1)}{', '.join(options[:_SHOWN_EXPECTED])}, …"


def _caret(sql: str, position: int) -> str:
    """The line of ``sql`` holding the 1-based character ``position``, and a caret."""
    offset = min(max(position - 1, 0), len(sql))
    start = sql.rfind("\n", 0, offset) + 1
    end = sql.find("\n", offset)
    source = sql[start : end if end >= 0 else len(sql)]
    return f"  {source}\n  {' ' * (offset - start)}^"


def _table_hint(tables: Iterable[str] | None) -> str:
    if tables is None:
        return "`megawatch db status` lists the tables"
    names = sorted(
        name for name in tables if not name.startswith(".inner") and not name.endswith("_mv")
    )
    if not names:
        return "the store has no tables yet: create them with `megawatch db migrate`"
    return f"tables: {', '.join(names)}"
