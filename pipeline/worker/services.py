"""Services a worker runs beside its agents: alert delivery, the daily digest, and the
scrape-time metrics (consumer lag, deliveries) they expose.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import faust
import mode

from pipeline.analytics.schedule import DAY_S, next_run_at, send_scheduled_digest
from pipeline.kafka.endpoint import KafkaEndpoint
from pipeline.settings import Settings

if TYPE_CHECKING:
    from pipeline.notify.delivery_log import RecordSink
    from pipeline.store import Store
    from pipeline.worker.resources import WorkerResources


logger = logging.getLogger(__name__)


def register_services(
    app: faust.App, settings: Settings, endpoint: KafkaEndpoint, resources: WorkerResources
) -> None:
    if settings.notifier_in_worker:
        _register_notifier(app, settings, endpoint, resources)
    _register_digest(app, settings, resources)
    ends: dict[tuple[str, int], int] = {}
    if endpoint.embedded:
        _register_end_offsets(app, settings, endpoint, ends)
    resources.metrics.live.lag = partial(consumer_lag, app, ends)


def _register_notifier(
    app: faust.App, settings: Settings, endpoint: KafkaEndpoint, resources: WorkerResources
) -> None:
    """Alert delivery in the worker's loop (``megawatch notifier`` runs it on its own,
    with MEGAWATCH_NOTIFIER_IN_WORKER=false on the workers)."""
    from pipeline.notify import NotifierService, firing_alerts, store_sink

    @app.service
    class NotifierRunner(mode.Service):
        service: NotifierService | None = None

        async def on_start(self) -> None:
            firing = await asyncio.to_thread(firing_alerts, resources.store)
            self.service = NotifierService(
                settings, endpoint=endpoint, firing=firing, record_sink=store_sink(resources.store)
            )
            await self.service.start()
            resources.metrics.live.deliveries = self.service.stats

        async def on_stop(self) -> None:
            if self.service is not None:
                await self.service.stop(drain_s=2.0)


def _register_digest(app: faust.App, settings: Settings, resources: WorkerResources) -> None:
    """The daily digest (MEGAWATCH_DIGEST_SCHEDULE_UTC), sent by the group's leader only;
    returns at once when unset."""

    @app.task  # type: ignore[untyped-decorator]  # Faust's decorators are untyped
    async def digest_schedule() -> None:
        await run_leader_digest(settings, resources.store, app.is_leader)


#: A rebalance at the scheduled minute leaves the group without a leader for a moment:
#: every worker waits this long for leadership before it lets the day go.
LEADER_WAIT_S = 60.0


async def run_leader_digest(
    settings: Settings,
    store: Store,
    is_leader: Callable[[], bool],
    *,
    record_sink: RecordSink | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    runs: int | None = None,
) -> None:
    """The digest once per fleet, whatever the number of workers: every worker wakes at the
    scheduled time, and the one that is the Faust leader (it holds the group's leader
    partition) sends. Leadership moving right after a send may send the day again: the
    digest id is the same (the window ends at the scheduled minute), so receivers that
    dedupe on ``Idempotency-Key`` drop the copy."""
    schedule = settings.digest_schedule_utc
    if not schedule:
        logger.debug("digest schedule off (MEGAWATCH_DIGEST_SCHEDULE_UTC unset)")
        return
    if record_sink is None:
        from pipeline.notify.delivery_log import store_sink

        record_sink = store_sink(store)
    logger.info("digest: the last day's, daily at %s UTC, sent by the group's leader", schedule)
    done = 0
    while runs is None or done < runs:
        due = next_run_at(clock(), schedule)
        await sleep(max(0.0, (due - clock()).total_seconds()))
        if await _lead(is_leader, sleep):
            await send_scheduled_digest(settings, store, due, DAY_S, record_sink)
        else:
            logger.info("digest for %s: sent by the group's leader", due.isoformat())
        done += 1


async def _lead(is_leader: Callable[[], bool], sleep: Callable[[float], Awaitable[object]]) -> bool:
    for _ in range(int(LEADER_WAIT_S)):
        if is_leader():
            return True
        await sleep(1.0)
    return False


#: How often the true end offsets are read on the embedded broker (a throw-away consumer).
END_OFFSETS_INTERVAL_S = 5.0


def _register_end_offsets(
    app: faust.App,
    settings: Settings,
    endpoint: KafkaEndpoint,
    ends: dict[tuple[str, int], int],
) -> None:
    """Keep ``ends`` at the true end of every assigned partition.

    The worker's own fetch high watermarks go stale while it does not fetch a partition
    (paused by back-pressure, or its stream buffer full), and Tansu's ListOffsets answer
    is short (MEASURED.md): so lag read from either showed 0 while messages waited. A
    throw-away consumer's fetch reports the true end
    (:func:`~pipeline.kafka.tansu.true_end_offsets`).
    """
    from pipeline.kafka.endpoint import aiokafka_options
    from pipeline.kafka.tansu import true_end_offsets

    options = aiokafka_options(settings, endpoint, "consumer")
    bootstrap = options.pop("bootstrap_servers", endpoint.servers)

    @app.timer(interval=END_OFFSETS_INTERVAL_S)  # type: ignore[untyped-decorator]
    async def refresh_end_offsets() -> None:
        assigned = [(tp.topic, tp.partition) for tp in app.consumer.assignment() if _counted(tp)]
        if not assigned:
            return
        found = await true_end_offsets(bootstrap, assigned, timeout=3.0, **options)
        ends.clear()
        ends.update(found)


def _counted(tp: Any) -> bool:
    return not (tp.topic.endswith("-changelog") or "__assignor" in tp.topic)


def consumer_lag(
    app: faust.App, ends: dict[tuple[str, int], int] | None = None
) -> dict[tuple[str, int], int]:
    """Messages between what this worker has read and the end of each assigned partition.

    The end is the later of the last fetch response's high watermark and the true end
    read in the background (``ends``, on the embedded broker), so a partition this
    worker has stopped fetching still shows the messages waiting in it.
    """
    consumer = app.consumer
    known = ends or {}
    lag: dict[tuple[str, int], int] = {}
    for tp in consumer.assignment():
        if not _counted(tp):
            continue
        key = (tp.topic, tp.partition)
        end = max(consumer.highwater(tp) or -1, known.get(key, -1))
        read = consumer._read_offset.get(tp)  # type: ignore[attr-defined]
        if end >= 0:
            lag[key] = max(0, end - (read + 1 if read is not None else 0))
    return lag
