"""Thin Faust handlers: decode, call the core, publish alerts and dead letters, sink rows.

Each Kafka message is one Faust event carrying raw bytes (a batch of readings), never
one event per reading: per-reading Faust events would cap the worker at a few thousand
readings per second (../shared/MEASURED.md). A message is acked only when its rows are
in ClickHouse and its dead letters are on their topic, so Faust commits nothing that
could still be lost.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipeline.core.decode import MessageDecoder, Reject
from pipeline.core.processor import Outcome, Processor
from pipeline.core.rows import GPU_COLUMNS, LINK_COLUMNS, RACK_POWER_COLUMNS, SITE_POWER_COLUMNS
from pipeline.events import Alert, DeadLetter
from pipeline.kafka.topics import ALERTS, DEADLETTER, GPU, LINK, RACK_POWER
from pipeline.worker.metrics import Metrics
from pipeline.worker.sink import ClickHouseSink
from pipeline.worker.topic_rows import (
    ALERT_COLUMNS,
    DEAD_LETTER_COLUMNS,
    alert_row,
    dead_letter_row,
)

logger = logging.getLogger(__name__)

ProcessMethod = Callable[[Any, int, int, int], Outcome]  # (events, partition, offset, now)

#: topic -> (ClickHouse table, its columns, the Processor method for its events)
TELEMETRY: dict[str, tuple[str, tuple[str, ...], Callable[[Processor], ProcessMethod]]] = {
    RACK_POWER: ("rack_power", RACK_POWER_COLUMNS, lambda p: p.rack_power),
    GPU: ("gpu_samples", GPU_COLUMNS, lambda p: p.gpu),
    LINK: ("link_samples", LINK_COLUMNS, lambda p: p.link),
}


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Publishers:
    """How the handlers reach Kafka and the durable table (set by :mod:`pipeline.worker.app`)."""

    send_alert: Callable[[bytes, bytes], Any]  # awaitable: delivered when it returns
    send_dead_letter: Callable[[bytes | None, bytes], Any]
    save_alert_states: Callable[[str, dict[str, Any]], None]


class Handlers:
    def __init__(
        self,
        processor: Processor,
        sink: ClickHouseSink,
        decoders: dict[str, MessageDecoder[Any]],
        publishers: Publishers,
        metrics: Metrics,
    ) -> None:
        self.processor = processor
        self.sink = sink
        self.decoders = decoders
        self.publish = publishers
        self.metrics = metrics
        self._ledger_loaded: set[tuple[str, str, int]] = set()
        self._seen: dict[tuple[str, int], int] = {}  # highest offset processed, per partition

    # --- telemetry ------------------------------------------------------------------
    async def telemetry(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        ack: Callable[[], object],
    ) -> None:
        """One message of a telemetry topic, from bytes to state, rows and alerts."""
        if self._delivered_before(topic, partition, offset):
            self.sink.after_next_flush(ack)  # its first delivery is buffered or stored
            return
        table, columns, process = TELEMETRY[topic]
        self.metrics.messages.labels(topic).inc()
        try:
            decoded = self.decoders[topic].decode(value, key, datetime.now(UTC))
            outcome: Outcome | None = None
            if decoded.events:
                outcome = process(self.processor)(decoded.events, partition, offset, now_ms())
        except Exception as exc:  # a bug that some input triggers: keep it, keep running
            logger.exception("processing %s[%d]@%d failed", topic, partition, offset)
            reason = f"internal error while processing: {type(exc).__name__}: {exc}"[:500]
            await self._dead_letter(
                topic, partition, offset, key, Reject("internal_error", reason, value or b"")
            )
            ack()
            return
        for reject in decoded.rejects:
            await self._dead_letter(topic, partition, offset, key, reject)
        if outcome is None:
            ack()
            return
        self.metrics.readings.labels(topic).inc(len(decoded.events))
        await self.publish_alerts(outcome.alerts)
        if await self._already_stored(table, topic, partition, offset):
            self.metrics.replayed.labels(topic).inc()
            ack()
            return
        assert outcome.columns is not None
        outcome.columns.append([self.sink.cluster_id] * len(decoded.events))
        await self.sink.add(
            table,
            (*columns, "kafka_cluster"),
            outcome.columns,
            source=(topic, partition, offset),
            done=ack,
        )

    def _delivered_before(self, topic: str, partition: int, offset: int) -> bool:
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

    async def _already_stored(self, table: str, topic: str, partition: int, offset: int) -> bool:
        key = (table, topic, partition)
        if key not in self._ledger_loaded:
            await asyncio.to_thread(self.sink.load_ledger, table, topic, [partition])
            self._ledger_loaded.add(key)
        return self.sink.already_stored(table, topic, partition, offset)

    def keep_partitions(self, topic: str, owned: set[int]) -> None:
        """Forget what was seen and stored of partitions of ``topic`` no longer owned."""
        for key in [k for k in self._seen if k[0] == topic and k[1] not in owned]:
            del self._seen[key]
        gone = {k[2] for k in self._ledger_loaded if k[1] == topic and k[2] not in owned}
        if gone:
            self.sink.forget(topic, sorted(gone))
            self._ledger_loaded = {
                k for k in self._ledger_loaded if not (k[1] == topic and k[2] in gone)
            }

    async def _dead_letter(
        self, topic: str, partition: int, offset: int, key: bytes | None, reject: Reject
    ) -> None:
        self.metrics.dead_letters.labels(topic, reject.code).inc()
        try:
            raw, encoding = reject.raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            raw, encoding = base64.b64encode(reject.raw).decode(), "base64"
        record = DeadLetter(
            reason=reject.reason,
            topic=topic,
            partition=partition,
            offset=offset,
            raw=raw,
            raw_encoding=encoding,
            index=reject.index,
            key=key.decode("utf-8", errors="replace") if key else None,
            received_at=datetime.now(UTC),
            reason_code=reject.code,
        )
        await self.publish.send_dead_letter(key, record.model_dump_json(exclude_none=True).encode())

    # --- alerts, series, durable state ----------------------------------------------------
    async def publish_alerts(self, alerts: list[Alert]) -> None:
        """Send alert events (delivered), then persist the alert states that changed.

        In this order: a crash in between re-sends the same fingerprint:seq after the
        restart (receivers dedupe), where the other order could lose a firing alert.
        """
        for alert in alerts:
            self.metrics.alerts.labels(alert.rule, alert.status.value).inc()
            logger.info("alert %s %s: %s", alert.status.value, alert.rule, alert.summary)
            await self.publish.send_alert(
                alert.fingerprint.encode(), alert.model_dump_json(exclude_none=True).encode()
            )
        if alerts:
            for site, durable in self.processor.dirty_alert_states().items():
                self.publish.save_alert_states(site, durable)

    async def tick(self) -> None:
        """Once per evaluation interval: staleness, series rows, forecast and idle rules."""
        outcome = self.processor.tick(now_ms())
        await self.publish_alerts(outcome.alerts)
        if outcome.columns and outcome.columns[0]:
            await self.sink.add("site_power", SITE_POWER_COLUMNS, outcome.columns)
        monitors = self.processor.monitors.values()
        now = now_ms()
        self.metrics.sites.set(len(self.processor.monitors))
        self.metrics.sites_warming.set(
            sum(1 for m in monitors if m.warming(now, self.processor.policy(m.site)))
        )
        self.metrics.sites_unspecced.set(
            sum(1 for m in monitors if self.processor.spec_of(m.site) is None)
        )

    # --- the topics the worker stores as they are -------------------------------------------
    async def stored_topic(
        self,
        topic: str,
        partition: int,
        offset: int,
        value: bytes | None,
        ack: Callable[[], object],
    ) -> None:
        """alerts and telemetry.deadletter: store each record in its table."""
        if self._delivered_before(topic, partition, offset):
            self.sink.after_next_flush(ack)
            return
        columns: tuple[str, ...]
        if topic == ALERTS:
            table, columns, row = "alerts", ALERT_COLUMNS, alert_row(value, partition, offset)
        else:
            table, columns = "dead_letters", DEAD_LETTER_COLUMNS
            row = dead_letter_row(value, partition, offset)
        if row is None:
            # Our own topics carry our own records; anything else is counted, not stored.
            logger.warning(
                "unreadable record on %s partition %d offset %d: not stored",
                topic,
                partition,
                offset,
            )
            self.metrics.dead_letters.labels(topic, "unreadable").inc()
            ack()
            return
        if await self._already_stored(table, topic, partition, offset):
            ack()
            return
        await self.sink.add(
            table,
            (*columns, "kafka_cluster"),
            [[v] for v in (*row, self.sink.cluster_id)],
            source=(topic, partition, offset),
            done=ack,
        )


__all__ = ["DEADLETTER", "Handlers", "Publishers"]
