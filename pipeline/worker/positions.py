"""Where each partition stands: what was delivered, what the store holds, what is acked.

The bookkeeping behind the handlers' exactness (issue 10): a redelivery after a
rebalance is recognised and joins its first delivery; the offset ledger
(:mod:`pipeline.worker.ledger`) skips what is already stored; acks go to Faust in offset
order; and a message that is never done is reported, not silent.
"""

from __future__ import annotations

import logging

from pipeline.worker.ack_order import InOrderAcks
from pipeline.worker.metrics import Metrics
from pipeline.worker.sink import ClickHouseSink

logger = logging.getLogger(__name__)


class Positions:
    def __init__(self, sink: ClickHouseSink, metrics: Metrics) -> None:
        self.sink = sink
        self.metrics = metrics
        self._seen: dict[tuple[str, int], int] = {}  # highest offset processed, per partition
        self.order = InOrderAcks()  # acks go to Faust in offset order, whatever finishes first
        self._exported: set[tuple[str, int]] = set()  # partitions with an oldest-pending gauge
        self._warned: dict[tuple[str, int], int] = {}  # partition -> offset warned about
        self.ledger = sink.ledger  # what the store holds already, per table and partition
        self.ledger.on_reset = lambda topic: metrics.ledger_resets.labels(topic).inc()

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
        self.ledger.keep_partitions(topic, owned)
