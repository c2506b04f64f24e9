"""Where each partition stands: what was delivered, what the store holds, what is acked.

The bookkeeping behind the handlers' exactness (issue 10): a redelivery after a
rebalance is recognised and joins its first delivery; the offset ledger read from the
store skips what is already stored, unless the log was recreated under it; acks go to
Faust in offset order; and a message that is never done is reported, not silent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from pipeline.worker.ack_order import InOrderAcks
from pipeline.worker.metrics import Metrics
from pipeline.worker.persist import until_done
from pipeline.worker.sink import ClickHouseSink

logger = logging.getLogger(__name__)


class Positions:
    def __init__(self, sink: ClickHouseSink, metrics: Metrics) -> None:
        self.sink = sink
        self.metrics = metrics
        self._ledger_loaded: set[tuple[str, str, int]] = set()
        self._seen: dict[tuple[str, int], int] = {}  # highest offset processed, per partition
        self.order = InOrderAcks()  # acks go to Faust in offset order, whatever finishes first
        self._exported: set[tuple[str, int]] = set()  # partitions with an oldest-pending gauge
        self._warned: dict[tuple[str, int], int] = {}  # partition -> offset warned about
        #: (topic, partition) -> the end of its log as last fetched (set by the app)
        self.log_end: Callable[[str, int], int | None] = lambda topic, partition: None

    def delivered_before(self, topic: str, partition: int, offset: int) -> bool:
        """True for a message this worker already processed since it got the partition.

        Faust may hand a message over again after the seek to committed offsets that
        follows an assignment (the first delivery still in the sink's buffer): applying
        it twice would store it twice within one batch, where the offset ledger cannot
        see it. Such a redelivery is acked with the next flush instead.
        """
        key = (topic, partition)
        seen = self._seen.get(key)
        if seen is not None and offset <= seen:
            self.metrics.replayed.labels(topic).inc()
            return True
        if seen is not None and offset > seen + 1:
            # These topics have no gaps of their own (no compaction, no transactions):
            # a jump means messages were skipped on the way here. Never silently.
            self.metrics.offset_gaps.labels(topic).inc(offset - seen - 1)
            logger.warning(
                "%s[%d]: offsets %d-%d skipped by the consumer",
                topic,
                partition,
                seen + 1,
                offset - 1,
            )
        self._seen[key] = offset
        return False

    async def already_stored(self, table: str, topic: str, partition: int, offset: int) -> bool:
        key = (table, topic, partition)
        if key not in self._ledger_loaded:
            await until_done(
                f"reading the stored offsets of {table} for {topic}[{partition}]",
                lambda: asyncio.to_thread(self.sink.load_ledger, table, topic, [partition]),
            )
            self._ledger_loaded.add(key)
            await self._check_ledger(table, topic, partition)
        return self.sink.already_stored(table, topic, partition, offset)

    async def _check_ledger(self, table: str, topic: str, partition: int) -> None:
        """Never skip silently: a ledger past the end of the log is not this log's.

        The ledger says offsets up to N are stored; a log that ends at or below N was
        recreated (topic deleted and created, a new cluster under the same id): its
        messages are new, not replays, and must be stored.
        """
        stored = self.sink.stored_offset(table, topic, partition)
        end = self.log_end(topic, partition)
        if stored is None or end is None or stored < end:
            return
        logger.error(
            "%s[%d]: the store holds offsets up to %d but the log ends at %d: the topic or "
            "cluster was recreated; storing its messages as new (ledger set aside for %s)",
            topic,
            partition,
            stored,
            end,
            table,
        )
        self.metrics.ledger_resets.labels(topic).inc()
        await until_done(
            f"setting aside the ledger of {table} for {topic}[{partition}]",
            lambda: asyncio.to_thread(self.sink.reset_ledger, table, topic, partition, end),
        )

    def watch_pending(self, warn_after_s: float) -> None:
        """The stall watchdog (a timer calls it): exports each partition's oldest pending
        message age and warns once per message that waits longer than ``warn_after_s``.

        A message never done holds its whole partition back (acks go out in order), so
        a forgotten ``done`` would otherwise be a silent, total stall (issue 10 #8).
        """
        oldest = self.order.oldest()
        for topic, partition in self._exported - set(oldest):
            self.metrics.oldest_pending.remove(topic, str(partition))
        self._exported = set(oldest)
        for (topic, partition), head in oldest.items():
            age = 0.0 if head is None else head.age_s
            self.metrics.oldest_pending.labels(topic, str(partition)).set(age)
            if (
                head is None
                or age < warn_after_s
                or self._warned.get((topic, partition)) == head.offset
            ):
                continue
            self._warned[(topic, partition)] = head.offset
            logger.warning(
                "%s[%d]: offset %d not done after %.0f s (stored, dead-lettered), %d "
                "messages wait behind it: nothing of this partition is committed until it is",
                topic,
                partition,
                head.offset,
                age,
                head.behind,
            )

    def keep_partitions(self, topic: str, owned: set[int]) -> None:
        """Forget what was seen and stored of partitions of ``topic`` no longer owned."""
        for key in [k for k in self._seen if k[0] == topic and k[1] not in owned]:
            del self._seen[key]
        self.order.keep(topic, owned)
        gone = {k[2] for k in self._ledger_loaded if k[1] == topic and k[2] not in owned}
        if gone:
            self.sink.forget(topic, sorted(gone))
            self._ledger_loaded = {
                k for k in self._ledger_loaded if not (k[1] == topic and k[2] in gone)
            }
