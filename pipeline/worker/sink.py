"""Batched, idempotent ClickHouse writer with back-off: :class:`ClickHouseSink`.

The contract (after quix-streams' sinks): stream processors ``add`` column batches with
the Kafka position they came from and a ``done`` callback; the sink inserts them in
column-oriented batches (at ``max_rows`` rows or every ``flush_interval`` seconds,
whichever first) and calls ``done`` only once the rows are in ClickHouse. The worker
acks a Kafka message in ``done``, so no offset is committed before its rows are stored
(at-least-once).

Idempotence, for the redelivery that at-least-once implies:

* every batch carries an ``insert_deduplication_token`` kept across its retries, so an
  insert that timed out but landed is not stored twice;
* rows from Kafka carry their cluster id, partition and offset; the sink advances the
  offset ledger (:class:`pipeline.worker.ledger.OffsetLedger`, :attr:`ledger`) after
  each insert, so that a redelivered message is not stored again.

When the store is down the sink retries with capped exponential back-off, forever
(:func:`pipeline.core.retry.retry`; by default the worker's
:data:`pipeline.worker.persist.STEP_BACKOFF`), and ``add`` blocks once
``max_buffered_rows`` are waiting, the batch being written included: the agent stops
pulling, Faust's stream buffer fills and its fetcher stops (back-pressure), so memory
stays bounded and nothing is lost. :attr:`backpressure` and :attr:`failing` say so
(``/health``, metrics), with one log line as each starts and ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pipeline.core.retry import Backoff, retry
from pipeline.errors import StoreError
from pipeline.store.columns import Chunked, ColumnStore
from pipeline.worker.ledger import OffsetLedger
from pipeline.worker.persist import STEP_BACKOFF

logger = logging.getLogger(__name__)

#: (writer, column names, columns) -> the columns without rows already stored
BeforeInsert = Callable[
    [ColumnStore, tuple[str, ...], Sequence[Sequence[object]]], Sequence[Sequence[object]]
]


@dataclass
class _Buffer:
    column_names: tuple[str, ...]
    columns: list[Chunked]  # each batch's column lists as added: no copy per value
    rows: int = 0
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)  # (topic, partition)
    done: list[Callable[[], object]] = field(default_factory=list)


class ClickHouseSink:
    def __init__(
        self,
        writer: ColumnStore,
        cluster_id: str,
        *,
        max_rows: int = 20_000,
        flush_interval: float = 1.0,
        max_buffered_rows: int = 200_000,
        backoff: Backoff = STEP_BACKOFF,
        on_flushed: Callable[[str, int, float], None] | None = None,
        on_failed: Callable[[], None] | None = None,
        on_state: Callable[[ClickHouseSink], None] | None = None,
        before_insert: dict[str, BeforeInsert] | None = None,
    ) -> None:
        self.writer = writer
        self.cluster_id = cluster_id
        self.max_rows = max_rows
        self.flush_interval = flush_interval
        self.max_buffered_rows = max_buffered_rows
        self.backoff = backoff  # between attempts of a failed insert
        self.on_flushed = on_flushed  # (table, rows, seconds): metrics hook
        self.on_failed = on_failed  # one failed insert (retried): metrics hook
        self.on_state = on_state  # back-pressure or failing changed: metrics hook
        #: table -> drops rows already stored (run under the flush lock, in a thread)
        self.before_insert = before_insert or {}
        self.backpressure = False  # an add is waiting for the store (consumption paused)
        #: seconds consumption was paused for the store, over the pauses that have ended
        #: (a counter: its rate is the share of time the store holds the worker back)
        self.backpressure_seconds = 0.0
        self._holding = 0  # adds waiting for the store now
        self._held_since = 0.0
        self.failing = False  # the last insert failed, none has succeeded since
        self._in_flight = 0  # rows of the batch being written
        self._buffers: dict[str, _Buffer] = {}
        self._buffered = 0
        self._lock = asyncio.Lock()  # one flush at a time, in order
        self.ledger = OffsetLedger(writer, cluster_id)  # what the store holds already
        self._last_flush = time.monotonic()
        self._flushing: asyncio.Future[None] | None = None

    # --- the stream side --------------------------------------------------------------
    async def add(
        self,
        table: str,
        column_names: tuple[str, ...],
        columns: Sequence[Sequence[object]],
        *,
        source: tuple[str, int, int] | None = None,
        done: Callable[[], object] | None = None,
    ) -> None:
        """Buffer one column batch; ``done`` runs once these rows are stored.

        The column lists are kept as they are, not copied (the pieces of a
        :class:`~pipeline.store.columns.Chunked`): the caller hands them over and does
        not change them afterwards."""
        buffer = self._buffers.get(table)
        if buffer is None or buffer.column_names != column_names:
            if buffer is not None:
                await self.flush()
            buffer = _Buffer(column_names, [Chunked() for _ in column_names])
            self._buffers[table] = buffer
        rows = len(columns[0]) if columns else 0
        if rows:
            for target, values in zip(buffer.columns, columns, strict=True):
                target.add(values)
        buffer.rows += rows
        self._buffered += rows
        if source is not None:
            topic, partition, offset = source
            key = (topic, partition)
            buffer.offsets[key] = max(offset, buffer.offsets.get(key, -1))
        if done is not None:
            buffer.done.append(done)
        if self._buffered + self._in_flight >= self.max_buffered_rows:
            await self._hold_back()
        elif buffer.rows >= self.max_rows and (self._flushing is None or self._flushing.done()):
            # A full batch is written in the background: the agent goes on decoding and
            # evaluating rules (alert latency) while the insert runs in its thread.
            self._flushing = asyncio.ensure_future(self.flush())

    @property
    def buffered_rows(self) -> int:
        """Rows held in memory: waiting in the buffers and being written."""
        return self._buffered + self._in_flight

    async def _hold_back(self) -> None:
        """Back-pressure: the store is behind; the caller (the agent) waits until it
        has taken what is buffered, so the stream stops pulling from Kafka."""
        # Every agent adding meanwhile waits here too: the pause is the time from the
        # first to hold back to the last to go on, counted once.
        if not self._holding:
            self._held_since = time.monotonic()
        self._holding += 1
        self._set_state(backpressure=True)
        try:
            await self.flush()
        finally:
            self._holding -= 1
            if not self._holding:
                self.backpressure_seconds += time.monotonic() - self._held_since
                self._set_state(backpressure=False)

    def _set_state(self, *, backpressure: bool | None = None, failing: bool | None = None) -> None:
        before = (self.backpressure, self.failing)
        if backpressure is not None:
            self.backpressure = backpressure
        if failing is not None:
            self.failing = failing
        if (self.backpressure, self.failing) == before:
            return
        if backpressure is not None and backpressure != before[0]:
            logger.warning(
                "back-pressure %s: %d rows held, consumption %s",
                "on" if backpressure else "off",
                self.buffered_rows,
                "paused until the store takes them" if backpressure else "resumed",
            )
        if failing is False and before[1]:
            logger.warning("the store takes inserts again")
        if self.on_state is not None:
            self.on_state(self)

    # --- flushing ---------------------------------------------------------------------
    def due(self) -> bool:
        return self._buffered > 0 and time.monotonic() - self._last_flush >= self.flush_interval

    async def flush(self) -> None:
        """Write everything buffered; returns once it is stored (retrying while not)."""
        async with self._lock:
            buffers, self._buffers = self._buffers, {}
            self._in_flight, self._buffered = self._buffered, 0
            self._last_flush = time.monotonic()
            unwritten = list(buffers.items())
            try:
                while unwritten:
                    table, buffer = unwritten[0]
                    if buffer.rows:
                        await self._write_until_stored(table, buffer)
                    unwritten.pop(0)
                    self._in_flight -= buffer.rows
                    for done in buffer.done:
                        done()
            except BaseException:
                # Cancelled (a stop) or a bug: what is not written goes back, done
                # callbacks included, or its messages would never be done (a stall).
                self._give_back(unwritten)
                raise
            finally:
                self._in_flight = 0

    def _give_back(self, unwritten: list[tuple[str, _Buffer]]) -> None:
        """Put batches a flush did not write in front of what was added since."""
        for table, old in unwritten:
            new = self._buffers.get(table)
            if new is not None and new.column_names == old.column_names:
                for target, values in zip(old.columns, new.columns, strict=True):
                    target.extend(values)
                old.rows += new.rows
                old.done.extend(new.done)
                for key, offset in new.offsets.items():
                    old.offsets[key] = max(offset, old.offsets.get(key, -1))
                self._buffered -= new.rows
            elif new is not None:  # never so in megawatch: one column set per table
                logger.error("%s: rows of two column sets; keeping the older", table)
            self._buffers[table] = old
            self._buffered += old.rows

    def _insert(self, table: str, buffer: _Buffer, token: str) -> None:
        columns: Sequence[Sequence[object]] = buffer.columns
        prepare = self.before_insert.get(table)
        if prepare is not None:
            columns = prepare(self.writer, buffer.column_names, columns)
            if not columns or not columns[0]:
                return  # all stored before: nothing to write (the ledger is unchanged)
        self.writer.insert_columns(table, buffer.column_names, columns, token)

    async def _write_until_stored(self, table: str, buffer: _Buffer) -> None:
        token = f"{table}:{uuid.uuid4().hex}"  # the same token for every retry of the batch

        async def attempt() -> float:
            started = time.perf_counter()
            await asyncio.to_thread(self._insert, table, buffer, token)
            return time.perf_counter() - started

        def failed(exc: Exception, delay: float) -> None:
            if self.on_failed is not None:
                self.on_failed()
            self._set_state(failing=True)
            logger.warning(
                "insert of %d rows into %s failed (%s); retrying in %.1f s",
                buffer.rows,
                table,
                exc,
                delay,
            )

        elapsed = await retry(attempt, self.backoff, failed, retry_on=(StoreError,))
        self._set_state(failing=False)
        self.ledger.record(table, buffer.offsets)
        if self.on_flushed is not None:
            self.on_flushed(table, buffer.rows, elapsed)
