"""Services a worker runs beside its agents: alert delivery, the daily digest, and the
scrape-time metrics (consumer lag, deliveries) they expose.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import TYPE_CHECKING

import faust
import mode

from pipeline.kafka.endpoint import KafkaEndpoint
from pipeline.settings import Settings

if TYPE_CHECKING:
    from pipeline.worker.resources import WorkerResources


def register_services(
    app: faust.App, settings: Settings, endpoint: KafkaEndpoint, resources: WorkerResources
) -> None:
    if settings.notifier_in_worker:
        _register_notifier(app, settings, endpoint, resources)
    _register_digest(app, settings, resources)
    resources.metrics.live.lag = partial(consumer_lag, app)


def _register_notifier(
    app: faust.App, settings: Settings, endpoint: KafkaEndpoint, resources: WorkerResources
) -> None:
    """Alert delivery in the worker's loop: in embedded mode only this process may write
    the delivery records to the store (``megawatch notifier`` runs it on its own)."""
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

    app.megawatch_notifier = NotifierRunner  # type: ignore[attr-defined]


def _register_digest(app: faust.App, settings: Settings, resources: WorkerResources) -> None:
    """The daily digest (MEGAWATCH_DIGEST_SCHEDULE_UTC); returns at once when unset."""
    from pipeline.analytics.schedule import run_digest_schedule

    @app.task  # type: ignore[untyped-decorator]  # Faust's decorators are untyped
    async def digest_schedule() -> None:
        await run_digest_schedule(settings, resources.store)


def consumer_lag(app: faust.App) -> dict[tuple[str, int], int]:
    """Messages between what this worker has read and the end of each assigned partition.

    The end is the high watermark of the last fetch response, which is right even on the
    embedded broker (only its ListOffsets answer is short).
    """
    consumer = app.consumer
    lag: dict[tuple[str, int], int] = {}
    for tp in consumer.assignment():
        if tp.topic.endswith("-changelog") or "__assignor" in tp.topic:
            continue
        end = consumer.highwater(tp)
        read = consumer._read_offset.get(tp)  # type: ignore[attr-defined]
        if end is not None and end >= 0:
            lag[(tp.topic, tp.partition)] = max(0, end - (read + 1 if read is not None else 0))
    return lag
