"""Thin Faust handlers: decode, call the core, publish alerts and dead letters, sink rows.

Each Kafka message is one Faust event carrying raw bytes (a batch of readings), never
one event per reading: per-reading Faust events would cap the worker at a few thousand
readings per second (../shared/MEASURED.md). A message is done when its rows are in
ClickHouse and its dead letters are on their topic; acks reach Faust in offset order
(:class:`pipeline.worker.ack_order.InOrderAcks`), so Faust commits no offset with a
message before it that could still be lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from pipeline.core.decode import MessageDecoder, Reject
from pipeline.core.processor import Outcome, Processor
from pipeline.core.rows import (
    ALERT_COLUMNS,
    DOMAIN_POWER_COLUMNS,
    FACILITY_COLUMNS,
    GPU_COLUMNS,
    GPU_ENERGY_COLUMNS,
    LINK_COLUMNS,
    RACK_ENERGY_COLUMNS,
    RACK_POWER_COLUMNS,
    SITE_POWER_COLUMNS,
    WORK_COLUMNS,
)
from pipeline.events import Alert
from pipeline.kafka.topics import ALERTS, FACILITY, GPU, LINK, RACK_POWER, WORK
from pipeline.worker.dead_letters import MAX_KEY_BYTES, dead_letter_record
from pipeline.worker.isolation import decode_guarded, process_isolating
from pipeline.worker.metrics import Metrics
from pipeline.worker.partials import PartialRelay
from pipeline.worker.persist import until_done
from pipeline.worker.positions import Positions
from pipeline.worker.sink import ClickHouseSink
from pipeline.worker.topic_rows import (
    DEAD_LETTER_COLUMNS,
    alert_row,
    dead_letter_row,
)

logger = logging.getLogger(__name__)

#: (events, partition, offset, now, key)
ProcessMethod = Callable[[Any, int, int, int, str], Outcome]

#: topic -> (ClickHouse table, its columns, the Processor method for its events)
TELEMETRY: dict[str, tuple[str, tuple[str, ...], Callable[[Processor], ProcessMethod]]] = {
    RACK_POWER: ("rack_power", (*RACK_POWER_COLUMNS, *RACK_ENERGY_COLUMNS), lambda p: p.rack_power),
    GPU: ("gpu_samples", (*GPU_COLUMNS, *GPU_ENERGY_COLUMNS), lambda p: p.gpu),
    LINK: ("link_samples", LINK_COLUMNS, lambda p: p.link),
    FACILITY: ("facility_power", FACILITY_COLUMNS, lambda p: p.facility),
    WORK: ("work_samples", WORK_COLUMNS, lambda p: p.work),
}


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Publishers:
    """How the handlers reach Kafka and the durable table (set by :mod:`pipeline.worker.app`)."""

    send_alert: Callable[[bytes, bytes], Any]  # awaitable: delivered when it returns
    send_dead_letter: Callable[[bytes | None, bytes], Any]
    save_alert_states: Callable[[str, dict[str, Any]], None]  # (durable key, states)
    #: awaitable: queued for the partials topic (not waited for: the next one follows)
    send_partial: Callable[[bytes, bytes], Any] | None = None


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
        #: what was seen, stored and acked per partition (redeliveries, ledger, acks)
        self.positions = Positions(sink, metrics)
        #: shard partials to and from site stages on other workers
        self.partials = PartialRelay(
            processor, publishers.send_partial, metrics, self.publish_alerts
        )

    # --- telemetry ------------------------------------------------------------------
    async def telemetry(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        ack: Callable[[], object],
        via: str = "",
    ) -> None:
        """One message of a telemetry topic, from bytes to state, rows and alerts;
        ``via``: "gateway" for a message of `megawatch gateway` (its rows are stored
        once per identity: :mod:`pipeline.worker.identity`)."""
        done = self.positions.order.begin(topic, partition, offset, ack)
        if self.positions.delivered_before(topic, partition, offset):
            done()  # joins its first delivery, still pending or already acked
            return
        table, columns, process = TELEMETRY[topic]
        self.metrics.messages.labels(topic).inc()
        where = f"{topic}[{partition}]@{offset}"
        decoded = decode_guarded(self.decoders[topic], value, key, where)
        text = key.decode("utf-8", errors="replace") if key else ""
        method = process(self.processor)
        processed = process_isolating(
            lambda events: method(events, partition, offset, now_ms(), text),
            _merged,
            decoded,
            where,
        )
        for reject in (*decoded.rejects, *processed.failed):
            await self.dead_letter(topic, partition, offset, key, reject)
        outcome = processed.outcome
        if outcome is None:
            done()
            return
        readings = len(outcome.columns[0]) if outcome.columns else 0
        self.metrics.on_readings(topic, partition, readings, text)
        await self.partials.publish(outcome.partials)
        await self.publish_alerts(outcome.alerts)
        if await self.positions.ledger.already_stored(table, topic, partition, offset):
            self.metrics.replayed.labels(topic).inc()
            done()
            return
        assert outcome.columns is not None
        outcome.columns.append([self.sink.cluster_id] * len(outcome.columns[0]))
        outcome.columns.append([via] * len(outcome.columns[0]))
        await self.sink.add(
            table,
            (*columns, "kafka_cluster", "via"),
            outcome.columns,
            source=(topic, partition, offset),
            done=done,
        )

    async def dead_letter(
        self, topic: str, partition: int, offset: int, key: bytes | None, reject: Reject
    ) -> None:
        """Publish one dead letter, retrying until it is on its topic (never dropped)."""
        self.metrics.dead_letters.labels(topic, reject.code).inc()
        record = dead_letter_record(topic, partition, offset, key, reject)
        kafka_key = key[:MAX_KEY_BYTES] if key else None
        await until_done(
            f"dead letter of {topic}[{partition}]@{offset}",
            lambda: self.publish.send_dead_letter(kafka_key, record),
        )

    # --- alerts, series, durable state ----------------------------------------------------
    async def publish_alerts(self, alerts: list[Alert]) -> None:
        """Send alert events (delivered), then persist the alert states that changed.

        In this order: a crash in between re-sends the same fingerprint:seq after the
        restart (receivers dedupe), where the other order could lose a firing alert.
        """
        for alert in alerts:
            self.metrics.alerts.labels(alert.rule, alert.status.value).inc()
            logger.info("alert %s %s: %s", alert.status.value, alert.rule, alert.summary)
            key, value = (
                alert.fingerprint.encode(),
                alert.model_dump_json(exclude_none=True).encode(),
            )
            await until_done(
                f"alert {alert.fingerprint}:{alert.seq}",
                partial(self.publish.send_alert, key, value),
            )
        if alerts:
            for name, durable in self.processor.dirty_alert_states().items():
                await until_done(
                    f"the alert states of {name}",
                    partial(_now, self.publish.save_alert_states, name, durable),
                )

    async def tick(self) -> None:
        """Once per evaluation interval: every key's partial with its leaves, idle and
        link rules, forgetting long-silent racks; then every site stage's staleness and
        coverage, site and domain series rows, cap, forecast and telemetry rules."""
        now = now_ms()
        processor = self.processor
        for key in list(processor.monitors):
            await self._tick_outcome(processor.tick_keys(now, [key]))
            # A campus tick takes tens of ms: readings (and their alerts) go on between
            # keys and sites instead of waiting for all of it (alert latency, issue 13).
            await asyncio.sleep(0)
        for site in list(processor.stages):
            await self._tick_outcome(processor.tick_stages(now, [site]))
            await asyncio.sleep(0)
        stages = processor.stages.values()
        self.metrics.sites.set(len(processor.stages))
        self.metrics.keys.set(len(processor.monitors))
        self.metrics.sites_warming.set(
            sum(1 for s in stages if s.warming(now, processor.policy(s.site)))
        )
        self.metrics.sites_unspecced.set(
            sum(1 for s in stages if processor.spec_of(s.site) is None)
        )

    async def _tick_outcome(self, outcome: Outcome) -> None:
        await self.partials.publish(outcome.partials)
        await self.publish_alerts(outcome.alerts)
        if outcome.columns and outcome.columns[0]:
            await self.sink.add("site_power", SITE_POWER_COLUMNS, outcome.columns)
        if outcome.domain_columns and outcome.domain_columns[0]:
            await self.sink.add("domain_power", DOMAIN_POWER_COLUMNS, outcome.domain_columns)
        if outcome.forgotten:
            self.metrics.racks_forgotten.inc(outcome.forgotten)

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
        done = self.positions.order.begin(topic, partition, offset, ack)
        if self.positions.delivered_before(topic, partition, offset):
            done()
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
            done()
            return
        if await self.positions.ledger.already_stored(table, topic, partition, offset):
            done()
            return
        await self.sink.add(
            table,
            (*columns, "kafka_cluster"),
            [[v] for v in (*row, self.sink.cluster_id)],
            source=(topic, partition, offset),
            done=done,
        )


async def _now(call: Callable[..., object], *args: object) -> None:
    """A synchronous call as an awaitable step for :func:`until_done`."""
    call(*args)


def _merged(a: Outcome, b: Outcome) -> Outcome:
    assert a.columns is not None and b.columns is not None
    for target, values in zip(a.columns, b.columns, strict=True):
        target.extend(values)
    a.alerts.extend(b.alerts)
    a.partials.extend(b.partials)
    return a


__all__ = ["TELEMETRY", "Handlers", "Publishers"]
