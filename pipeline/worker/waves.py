"""The wave stream's Faust handlers: ``telemetry.power_wave`` in, wave records between
workers, the wave tick, demand-response baselines.

Per message it does what :class:`pipeline.worker.handlers.Handlers` does for the other
telemetry topics, with the same pieces (ordered acks, the offset ledger, dead letters
with their reason): decode, feed the key's aligner, store the ``power_wave`` rows (and
the raw samples when configured) and ack once they are stored. So the samples a worker
took in are counted exactly: every sample of a message is in ``power_wave.samples`` or
in a dead letter, once, across restarts. Per tick it closes cells, reads strides and
publishes what they produced: rows, alerts (through the handlers, which save the alert
states), blocks for site stages elsewhere (``megawatch.waves``), drops and series for
regions (``megawatch.regions``); baselines are loaded from the store in a thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pipeline.core.decode import MessageDecoder
from pipeline.core.wave.baseline import BaselineMethod
from pipeline.core.wave.codec import WaveRecordError
from pipeline.core.wave.demand import BaselineFound, BaselineRequest
from pipeline.core.wave.processor import WaveOutcome, WaveProcessor
from pipeline.core.wave.rows import (
    DR_EVENT_COLUMNS,
    DR_TRACKING_COLUMNS,
    DROP_COLUMNS,
    FEATURE_COLUMNS,
    INCIDENT_COLUMNS,
    POWER_WAVE_COLUMNS,
    SAMPLE_COLUMNS,
    Columns,
)
from pipeline.events import PowerWave
from pipeline.store.columns import ColumnStore
from pipeline.worker.dr_baseline import excluded_days, load_baseline
from pipeline.worker.handlers import Handlers, now_ms
from pipeline.worker.isolation import decode_guarded, process_isolating
from pipeline.worker.wave_metrics import WaveMetrics

logger = logging.getLogger(__name__)

WAVE_TABLE = "power_wave"
SAMPLE_TABLE = "power_wave_samples"

Send = Callable[[bytes, bytes], Awaitable[Any]]


@dataclass
class WaveSenders:
    """Where the wave stream's own records go (set by :mod:`pipeline.worker.app`)."""

    block: Send  # megawatch.waves, keyed by site: queued
    regional: Send  # megawatch.regions, keyed by region: queued


class WaveHandlers:
    def __init__(
        self,
        processor: WaveProcessor,
        handlers: Handlers,
        decoder: MessageDecoder[PowerWave],
        senders: WaveSenders,
        metrics: WaveMetrics,
        store: ColumnStore,
        method: BaselineMethod,
    ) -> None:
        self.processor = processor
        self.handlers = handlers  # positions, sink, dead letters and alerts: shared
        self.decoder = decoder
        self.senders = senders
        self.metrics = metrics
        self.store = store
        self.method = method
        self._loading: set[asyncio.Task[None]] = set()

    # --- telemetry.power_wave ------------------------------------------------------------
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
        positions, sink = self.handlers.positions, self.handlers.sink
        done = positions.order.begin(topic, partition, offset, ack)
        if positions.delivered_before(topic, partition, offset):
            done()
            return
        self.handlers.metrics.messages.labels(topic).inc()
        where = f"{topic}[{partition}]@{offset}"
        decoded = decode_guarded(self.decoder, value, key, where)
        text = key.decode("utf-8", errors="replace") if key else ""
        wave = self.processor.wave
        processed = process_isolating(
            lambda events: wave(events, partition, offset, now_ms(), text), _merged, decoded, where
        )
        for reject in (*decoded.rejects, *processed.failed):
            await self.handlers.dead_letter(topic, partition, offset, key, reject)
        outcome = processed.outcome
        if outcome is None or outcome.columns is None:
            done()
            return
        samples = sum(outcome.columns[POWER_WAVE_COLUMNS.index("samples")])
        self.metrics.samples.labels("aggregated").inc(samples - outcome.late)
        self.metrics.samples.labels("late").inc(outcome.late)
        self.handlers.metrics.on_readings(topic, partition, samples, text)
        writes: list[tuple[str, tuple[str, ...], Columns]] = [
            (WAVE_TABLE, POWER_WAVE_COLUMNS, outcome.columns)
        ]
        if outcome.samples is not None:
            writes.append((SAMPLE_TABLE, SAMPLE_COLUMNS, outcome.samples))
        ledger = positions.ledger
        todo = [
            w for w in writes if not await ledger.already_stored(w[0], topic, partition, offset)
        ]
        if not todo:
            self.handlers.metrics.replayed.labels(topic).inc()
            done()
            return
        after_all = _countdown(len(todo), done)
        for table, names, columns in todo:
            rows = len(columns[0])
            extra = [[sink.cluster_id] * rows] + ([[via] * rows] if table == WAVE_TABLE else [])
            more = ("kafka_cluster", "via") if table == WAVE_TABLE else ("kafka_cluster",)
            await sink.add(
                table,
                (*names, *more),
                [*columns, *extra],
                source=(topic, partition, offset),
                done=after_all,
            )

    # --- records from other workers --------------------------------------------------------
    async def receive_block(self, partition: int, value: bytes | None) -> None:
        try:
            dropped = self.processor.receive_block(value, partition, now_ms())
        except (WaveRecordError, ValueError) as exc:
            logger.warning("megawatch.waves, partition %d: not a block: %s", partition, exc)
            self.metrics.records.labels("waves", "unreadable").inc()
            return
        self.metrics.records.labels("waves", "applied").inc()
        if dropped:
            self.metrics.cells_dropped.inc(dropped)

    async def receive_regional(self, partition: int, value: bytes | None) -> None:
        try:
            self.processor.receive_regional(value, partition, now_ms())
        except (WaveRecordError, ValueError) as exc:
            logger.warning("megawatch.regions, partition %d: unreadable: %s", partition, exc)
            self.metrics.records.labels("regions", "unreadable").inc()
            return
        self.metrics.records.labels("regions", "applied").inc()

    def apply_dr(self, key: str, value: bytes | None) -> None:
        """A record of control.dr, as the worker reads it (recovery and live alike)."""
        problem = self.processor.demand.apply(key, value)
        if problem is not None:
            logger.warning("%s: ignored", problem)
        self.metrics.dr_events.set(len(self.processor.demand.events))

    # --- the tick ------------------------------------------------------------------------
    async def tick(self) -> None:
        outcome = self.processor.tick(now_ms())
        await self.publish(outcome)
        self.metrics.stages.labels("key").set(len(self.processor.keys))
        self.metrics.stages.labels("site").set(len(self.processor.stages))
        self.metrics.stages.labels("region").set(len(self.processor.regions))

    async def publish(self, outcome: WaveOutcome) -> None:
        for key, value in outcome.blocks:
            await self._send(self.senders.block, "waves", key, value)
        for key, value in outcome.regional:
            await self._send(self.senders.regional, "regions", key, value)
        await self.handlers.publish_alerts(outcome.alerts)
        tables = (
            ("wave_features", FEATURE_COLUMNS, outcome.stage.features),
            ("load_drops", DROP_COLUMNS, outcome.stage.drop_rows),
            ("fleet_incidents", INCIDENT_COLUMNS, outcome.region.incidents),
            (
                "dr_tracking",
                DR_TRACKING_COLUMNS,
                _joined(outcome.stage.dr_rows, outcome.region.dr_rows),
            ),
            ("dr_events", DR_EVENT_COLUMNS, outcome.dr_events),
        )
        for table, names, columns in tables:
            if columns[0]:
                await self.handlers.sink.add(table, names, columns)
        for request in outcome.baselines:
            task = asyncio.ensure_future(self._baseline(request))
            self._loading.add(task)
            task.add_done_callback(self._loading.discard)

    async def _send(self, send: Send, topic: str, key: str, value: bytes) -> None:
        try:
            await send(key.encode(), value)
        except Exception as exc:  # the broker away: a late block is held, then unknown
            logger.warning("%s record for %s not sent: %s", topic, key, exc)
            self.metrics.records.labels(topic, "unsent").inc()
            return
        self.metrics.records.labels(topic, "sent").inc()

    async def _baseline(self, request: BaselineRequest) -> None:
        """Load an event's baseline in a thread; on failure it is asked for again later
        (:data:`pipeline.core.wave.demand.BASELINE_RETRY_MS`)."""
        spec = request.event
        others = [(e.scope, e.start_ts) for e in self.processor.demand.events.values()]
        excluded = excluded_days(others, spec.scope, spec.start_ts)
        try:
            found: BaselineFound = await asyncio.to_thread(
                load_baseline, self.store, request, self.method, excluded
            )
        except Exception as exc:
            logger.warning("baseline of DR event %s not loaded: %s", spec.id, exc)
            return
        if not found.found:
            logger.warning("DR event %s has no baseline: %s", spec.id, found.why)
        columns = self.processor.set_baseline(request, found)
        await self.handlers.sink.add("dr_events", DR_EVENT_COLUMNS, columns)


def _countdown(n: int, done: Callable[[], object]) -> Callable[[], None]:
    """A callback that calls ``done`` on its ``n``-th call (a message in two tables)."""
    left = [n]

    def one() -> None:
        left[0] -= 1
        if left[0] == 0:
            done()

    return one


def _joined(a: Columns, b: Columns) -> Columns:
    return [x + y for x, y in zip(a, b, strict=True)]


def _merged(a: WaveOutcome, b: WaveOutcome) -> WaveOutcome:
    assert a.columns is not None and b.columns is not None
    a.columns = _joined(a.columns, b.columns)
    if a.samples is not None and b.samples is not None:
        a.samples = _joined(a.samples, b.samples)
    a.late += b.late
    return a


__all__ = ["WaveHandlers", "WaveSenders"]
