"""What the store's users need of it, as protocols: column inserts, row queries, statements.

:class:`pipeline.store.client.Store` implements all three; writers that need less ask
for less, so a test can hand them a small stand-in (a fault-injecting wrapper, an
in-memory collector) and the worker's hot path names the one method it calls:

* :class:`ColumnWriter`: ``insert_columns`` (the notifier's delivery records);
* :class:`ColumnStore`: that and ``query_rows`` (the worker's sink and offset ledger);
* :class:`SqlRunner`: that and ``command`` (migrations).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

__all__ = ["ColumnStore", "ColumnWriter", "SqlRunner"]


class ColumnWriter(Protocol):
    def insert_columns(
        self,
        table: str,
        column_names: Sequence[str],
        columns: Sequence[Sequence[Any]],
        dedup_token: str | None = None,
    ) -> None:
        """Insert column-oriented data (``columns[i]`` holds the values of
        ``column_names[i]``); a retry with the same ``dedup_token`` is stored once."""


class ColumnStore(ColumnWriter, Protocol):
    def query_rows(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """The result rows of a query (values bound by ``{name:Type}`` parameters)."""


class SqlRunner(ColumnStore, Protocol):
    def command(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        """Run a statement; ClickHouse's summary or the scalar it yields."""
