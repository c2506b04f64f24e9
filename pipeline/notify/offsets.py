"""Which offsets of the ``alerts`` topic may be committed (pure bookkeeping).

An alert's offset is done when every receiver has delivered it, rejected it or given
up. Receivers finish out of order (a dead one holds its alerts while the others go on),
so a partition's committable offset is the end of its *contiguous* done prefix: commit
``n`` means "everything below n is done". A restart therefore redelivers at most what
was in flight, never skips an alert that a receiver still owed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable


class PartitionLedger:
    """Offsets handed out on one partition, in order, and which of them are done."""

    def __init__(self) -> None:
        self._in_flight: deque[int] = deque()
        self._done: set[int] = set()
        self.next_offset: int | None = None  # commit point: all offsets below are done

    def __len__(self) -> int:
        return len(self._in_flight)

    def add(self, offset: int) -> Callable[[], None]:
        """Record a dispatched offset; returns the callback that marks it done."""
        if self._in_flight and offset <= self._in_flight[-1]:
            raise ValueError(f"offset {offset} not after {self._in_flight[-1]}")
        self._in_flight.append(offset)
        return lambda: self.done(offset)

    def done(self, offset: int) -> None:
        if offset in self._done or not self._in_flight or offset < self._in_flight[0]:
            return  # twice, or from before a reset: nothing to do
        self._done.add(offset)
        while self._in_flight and self._in_flight[0] in self._done:
            first = self._in_flight.popleft()
            self._done.discard(first)
            self.next_offset = first + 1


class OffsetLedger:
    """Per-partition ledgers plus what was last committed, keyed by topic-partition."""

    def __init__(self) -> None:
        self._partitions: dict[Hashable, PartitionLedger] = {}
        self._committed: dict[Hashable, int] = {}

    def add(self, tp: Hashable, offset: int) -> Callable[[], None]:
        return self._partitions.setdefault(tp, PartitionLedger()).add(offset)

    @property
    def in_flight(self) -> int:
        return sum(len(p) for p in self._partitions.values())

    def to_commit(self, only: set[Hashable] | None = None) -> dict[Hashable, int]:
        """Partitions whose commit point moved since the last :meth:`mark_committed`."""
        out = {}
        for tp, ledger in self._partitions.items():
            if only is not None and tp not in only:
                continue
            if ledger.next_offset is not None and ledger.next_offset != self._committed.get(tp):
                out[tp] = ledger.next_offset
        return out

    def mark_committed(self, offsets: dict[Hashable, int]) -> None:
        self._committed.update(offsets)

    def drop(self, tps: set[Hashable]) -> None:
        """Forget partitions that were revoked: late callbacks hit the dropped ledgers."""
        for tp in tps:
            self._partitions.pop(tp, None)
            self._committed.pop(tp, None)
