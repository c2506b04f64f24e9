"""Delivery records: one row per alert per attempt, batched into ``alert_deliveries``.

The notifier never talks to ClickHouse itself. It is handed a :data:`RecordSink`, an
async callable that takes a list of records: in the worker (embedded chDB, one owner per
process) the worker passes its own writer; the standalone notifier passes
:func:`store_sink`. :class:`RecordBatcher` collects records and calls the sink at most
every ``flush_s`` seconds, keeping (bounded) what a failing sink could not take.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import astuple, dataclass, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.notify.delivery import Attempt
    from pipeline.notify.notification import Notification
    from pipeline.notify.receivers import Receiver
    from pipeline.settings import Settings
    from pipeline.store.columns import ColumnWriter

logger = logging.getLogger(__name__)

TABLE = "alert_deliveries"


@dataclass(frozen=True)
class DeliveryRecord:
    """A row of ``alert_deliveries``; field order is the table's column order."""

    at: datetime
    fingerprint: str
    seq: int
    status: str
    rule: str
    site: str
    receiver: str
    receiver_kind: str
    attempt: int
    outcome: str  # delivered | retry | failed | gave_up
    http_status: int  # 0: no response (timeout, connection error)
    latency_ms: float
    error: str

    @classmethod
    def of_attempt(
        cls,
        receiver: Receiver,
        attempt: Attempt,
        *,
        fingerprint: str,
        seq: int,
        status: str,
        rule: str,
        site: str,
        at: datetime,
        error: str | None = None,
    ) -> DeliveryRecord:
        """The row of one attempt at ``receiver`` for one subject (an alert, a digest);
        ``error`` replaces the attempt's own (a left-out alert says so)."""
        return cls(
            at=at,
            fingerprint=fingerprint,
            seq=seq,
            status=status,
            rule=rule,
            site=site,
            receiver=receiver.name,
            receiver_kind=receiver.kind.value,
            attempt=attempt.number,
            outcome=attempt.outcome,
            http_status=attempt.http_status,
            latency_ms=round(attempt.latency_ms, 3),
            error=attempt.error if error is None else error,
        )


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(DeliveryRecord))

RecordSink = Callable[[list[DeliveryRecord]], Awaitable[None]]


def attempt_records(receiver: Receiver, n: Notification, attempt: Attempt) -> list[DeliveryRecord]:
    """One row per alert of the notification; left-out (truncated) ones say so."""
    at = datetime.now(UTC)
    listed = {id(a) for a in n.listed}
    return [
        DeliveryRecord.of_attempt(
            receiver,
            attempt,
            fingerprint=alert.fingerprint,
            seq=alert.seq,
            status=alert.status.value,
            rule=alert.rule,
            site=alert.site,
            at=at,
            error=None if id(alert) in listed else _truncated(attempt.error),
        )
        for alert in n.all_alerts
    ]


def _truncated(error: str) -> str:
    return "truncated (counted, not listed)" + (f"; {error}" if error else "")


def to_columns(records: Sequence[DeliveryRecord]) -> list[list[Any]]:
    rows = [astuple(r) for r in records]
    return [list(col) for col in zip(*rows, strict=True)] if rows else [[] for _ in COLUMNS]


def dedup_token(records: Sequence[DeliveryRecord]) -> str:
    """Same batch, same token: a retried insert of it is dropped by ClickHouse."""
    digest = hashlib.sha256()
    for r in records:
        digest.update(f"{r.receiver}|{r.fingerprint}|{r.seq}|{r.attempt}|{r.at}|".encode())
    return "deliveries-" + digest.hexdigest()[:32]


def record_in_store(settings: Settings, records: Sequence[DeliveryRecord]) -> str:
    """Write one-off delivery records (``alerts test``, ``digest --send``) to the store;
    a line saying what happened, since a command's delivery must not fail on the store."""
    from pipeline.errors import StoreError
    from pipeline.store import open_store
    from pipeline.store.reader import store_hint

    try:
        with open_store(settings) as store:
            store.insert_columns(TABLE, COLUMNS, to_columns(records), dedup_token(records))
    except StoreError as exc:
        return f"attempts not recorded in {TABLE}: {store_hint(str(exc))}"
    return f"{len(records)} attempt(s) recorded in {TABLE}"


def store_sink(store: ColumnWriter) -> RecordSink:
    """A sink writing to ``alert_deliveries`` through the store, off the event loop."""

    async def write(records: list[DeliveryRecord]) -> None:
        await asyncio.to_thread(
            store.insert_columns, TABLE, COLUMNS, to_columns(records), dedup_token(records)
        )

    return write


class RecordBatcher:
    """Collects records; a background task hands them to the sink in batches."""

    def __init__(
        self, sink: RecordSink | None, flush_s: float = 0.5, max_buffer: int = 100_000
    ) -> None:
        self._sink = sink
        self._flush_s = flush_s
        self._max_buffer = max_buffer
        self._buffer: list[DeliveryRecord] = []
        self._task: asyncio.Task[None] | None = None
        self.written = 0
        self.dropped = 0

    def add(self, records: Sequence[DeliveryRecord]) -> None:
        if self._sink is None:
            return
        self._buffer.extend(records)
        overflow = len(self._buffer) - self._max_buffer
        if overflow > 0:  # the sink has been failing for long: keep the newest
            del self._buffer[:overflow]
            self.dropped += overflow
            logger.error("delivery records: sink behind, dropped %s oldest records", overflow)

    def start(self) -> None:
        if self._sink is not None and self._task is None:
            self._task = asyncio.create_task(self._run(), name="notify-records")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def flush(self) -> None:
        if not self._buffer or self._sink is None:
            return
        batch, self._buffer = self._buffer, []
        try:
            await self._sink(batch)
        except Exception as exc:  # keep them for the next flush; the sink reports details
            self._buffer[:0] = batch
            logger.warning("delivery records: write of %s failed: %s", len(batch), exc)
            return
        self.written += len(batch)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._flush_s)
            await self.flush()
