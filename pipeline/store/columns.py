"""What the store's users need of it, as protocols: column inserts, row queries, statements.

:class:`pipeline.store.client.Store` implements all three; writers that need less ask
for less, so a test can hand them a small stand-in (a fault-injecting wrapper, an
in-memory collector) and the worker's hot path names the one method it calls:

* :class:`ColumnWriter`: ``insert_columns`` (the notifier's delivery records);
* :class:`ColumnStore`: that and ``query_rows`` (the worker's sink and offset ledger);
* :class:`SqlRunner`: that and ``command`` (migrations).

A column handed to ``insert_columns`` may be a :class:`Chunked`: its values in pieces,
read in order, which the store's encoder writes piece by piece.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import chain
from typing import Any, Protocol, overload

__all__ = ["Chunked", "ColumnStore", "ColumnWriter", "SqlRunner", "rows_at"]


#: a piece shorter than this is copied into the column's own last list
SMALL_PIECE = 64


class Chunked(Sequence[Any]):
    """One column as the pieces it was gathered in (a message's column list each), read
    as one sequence. The worker's sink keeps the lists it is given instead of copying
    every value into one list per column on the event loop (a copy measured at 0.3-0.6
    us a reading, on the thread the whole worker waits for); the store's Native encoder
    writes the pieces one after another. The pieces are only read: whoever adds one
    hands it over. Small pieces (an alert's or a dead letter's single row) are copied
    into one list instead, so that a column of many rows is never many pieces."""

    __slots__ = ("_tail", "chunks")

    def __init__(self, chunks: list[Sequence[Any]] | None = None) -> None:
        self.chunks: list[Sequence[Any]] = chunks if chunks is not None else []
        self._tail: list[Any] | None = None  # the last piece, when it is one of ours

    def add(self, values: Sequence[Any]) -> None:
        if type(values) not in (list, tuple):
            values = list(values)  # an array or a view: the encoder packs lists and tuples
        if len(values) < SMALL_PIECE:
            if self._tail is None:
                self._tail = []
                self.chunks.append(self._tail)
            self._tail.extend(values)
        else:
            self.chunks.append(values)
            self._tail = None

    def extend(self, other: Chunked) -> None:
        self.chunks.extend(other.chunks)
        self._tail = None

    def __len__(self) -> int:
        return sum(map(len, self.chunks))

    def __iter__(self) -> Iterator[Any]:
        return chain.from_iterable(self.chunks)

    @overload
    def __getitem__(self, index: int) -> Any: ...

    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...

    def __getitem__(self, index: int | slice) -> Any:
        # A walk over the pieces (tens of them): only the rare paths index a column.
        if isinstance(index, slice):
            return list(self)[index]
        at = index + len(self) if index < 0 else index
        if at >= 0:
            for piece in self.chunks:
                if at < len(piece):
                    return piece[at]
                at -= len(piece)
        raise IndexError("column index out of range")

    def __repr__(self) -> str:
        return f"Chunked({len(self.chunks)} pieces, {len(self)} values)"


def rows_at(columns: Sequence[Sequence[Any]], positions: Sequence[int]) -> list[list[Any]]:
    """The values at ``positions`` of every column: the rows a ``before_insert`` filter
    keeps. Each column is joined first, since a :class:`Chunked` one finds an indexed
    value by walking its pieces."""
    return [[column[i] for i in positions] for column in map(list, columns)]


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
