"""The wave stream wired into the worker's Faust app: ``telemetry.power_wave`` (the shard
stage), ``megawatch.waves`` (the site stages), ``megawatch.regions`` (the regions),
``control.dr`` (a GlobalTable), the wave tick and ``/api/dr``.

Kept apart from :mod:`pipeline.worker.app`, which calls :func:`register_waves` once with
the rack-power handlers it built: the wave stream shares their ordered acks, offset
ledger, sink, dead letters and alert books (:meth:`pipeline.core.processor.Processor.shared_book`),
and owns everything else. Site stages and regions live where their key's partition is
assigned, as the rack-power site stages do (:class:`Owned`).
"""

from __future__ import annotations

import logging
from typing import Any

import faust

from pipeline.core.decode import MessageDecoder
from pipeline.core.policy import RuleConfig, SitePolicy
from pipeline.core.wave.processor import WaveProcessor
from pipeline.core.wave.stage import WaveConfig
from pipeline.events import PowerWave
from pipeline.kafka.topics import DR, POWER_WAVE, REGIONS, WAVES, key_partition
from pipeline.settings import Settings
from pipeline.worker.dr_api import dr_token, register_dr_views
from pipeline.worker.dr_baseline import method_of
from pipeline.worker.handlers import Handlers
from pipeline.worker.identity import via_of
from pipeline.worker.parameters import decode_limits
from pipeline.worker.resources import WorkerResources
from pipeline.worker.tables import RAW, dr_table
from pipeline.worker.wave_metrics import WaveMetrics
from pipeline.worker.waves import WaveHandlers, WaveSenders

logger = logging.getLogger(__name__)


class Owned:
    """The partitions of a topic keyed by site or region that this worker owns."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self.owned: set[int] = set()

    def partition_of(self, name: str) -> int | None:
        partition = key_partition(name.encode(), self.partitions)
        return partition if partition in self.owned else None


def wave_config(settings: Settings) -> WaveConfig:
    return WaveConfig(
        step_ms=settings.wave_step_ms,
        lateness_ms=settings.wave_lateness_ms,
        hold_ms=settings.wave_hold_ms,
        window_s=settings.wave_window_s,
        stride_ms=int(settings.wave_stride_s * 1000),
        part_wait_ms=settings.wave_part_wait_ms,
        region_wait_ms=settings.wave_region_wait_ms,
        store_samples=settings.wave_store_samples,
    )


def register_waves(
    app: faust.App, settings: Settings, resources: WorkerResources, handlers: Handlers
) -> WaveHandlers:
    """Topics, agents, the DR table and views, the tick and the rebalance hook."""
    partitions = settings.kafka_partitions
    topics = {
        name: app.topic(name, partitions=partitions, **RAW) for name in (POWER_WAVE, WAVES, REGIONS)
    }
    stages, regions = Owned(partitions), Owned(partitions)
    rack = handlers.processor
    config = RuleConfig(**settings.rule_values())
    region_policies: dict[str, SitePolicy] = {}

    def region_policy(region: str) -> SitePolicy:
        policy = region_policies.get(region)
        if policy is None:
            policy = region_policies[region] = SitePolicy.of(region, None, config)
        return policy

    def sites_of_region(region: str) -> list[str]:
        table: Any = app.tables["sites"]
        names = (bytes(key).decode("utf-8", errors="replace") for key in list(table.keys()))
        return sorted(n for n in names if (spec := rack.spec_of(n)) and spec.region == region)

    processor = WaveProcessor(
        wave_config(settings),
        rack.policy,
        rack.shared_book,
        stages.partition_of,
        regions.partition_of,
        sites_of_region,
        region_policy,
    )

    async def queue(topic: str, key: bytes, value: bytes) -> None:
        await topics[topic].send(key=key, value=value)  # in the producer's buffer

    waves = WaveHandlers(
        processor,
        handlers,
        MessageDecoder(PowerWave, decode_limits(settings)),
        WaveSenders(lambda k, v: queue(WAVES, k, v), lambda k, v: queue(REGIONS, k, v)),
        WaveMetrics(resources.metrics.registry),
        resources.store,
        method_of(settings),
    )
    dr_table(app, waves.apply_dr)
    _register_agents(app, topics, waves)

    @app.timer(settings.eval_interval_s, name="megawatch.waves.tick")  # type: ignore[untyped-decorator]
    async def tick() -> None:
        await waves.tick()

    dr_topic = app.topic(DR, partitions=1, **RAW)

    async def publish_dr(key: bytes, value: bytes | None) -> None:
        fut = await dr_topic.send(key=key, value=value)
        await fut  # delivered: the caller answers once Kafka has it

    register_dr_views(app, dr_token(settings), lambda: processor.demand.events, publish_dr)
    _register_rebalance(app, waves, stages, regions)
    return waves


def _register_agents(app: faust.App, topics: dict[str, Any], waves: WaveHandlers) -> None:
    async def power_wave(stream: Any) -> None:
        async for event in stream.noack().events():
            m = event.message
            await waves.telemetry(
                m.topic, m.partition, m.offset, event.key, event.value, event.ack, via_of(m.headers)
            )

    app.agent(topics[POWER_WAVE], name=f"megawatch.{POWER_WAVE}")(power_wave)

    async def site_stage(stream: Any) -> None:
        # Blocks are soft state (a late one is held, then unknown): acked as read.
        async for event in stream.events():
            await waves.receive_block(event.message.partition, event.value)

    app.agent(topics[WAVES], name="megawatch.wave_stage")(site_stage)

    async def region_stage(stream: Any) -> None:
        async for event in stream.events():
            await waves.receive_regional(event.message.partition, event.value)

    app.agent(topics[REGIONS], name="megawatch.region_stage")(region_stage)


def _register_rebalance(app: faust.App, waves: WaveHandlers, stages: Owned, regions: Owned) -> None:
    async def on_assigned(app: Any, assigned: set[Any], **kwargs: Any) -> None:
        stages.owned = {tp.partition for tp in assigned if tp.topic == WAVES}
        regions.owned = {tp.partition for tp in assigned if tp.topic == REGIONS}
        owned = {tp.partition for tp in assigned if tp.topic in (POWER_WAVE, WAVES, REGIONS)}
        gone = waves.processor.revoke(set(range(stages.partitions)) - owned)
        if gone:
            logger.info("forgot %d wave keys, stages and regions owned elsewhere now", len(gone))
        waves.handlers.positions.keep_partitions(
            POWER_WAVE, {tp.partition for tp in assigned if tp.topic == POWER_WAVE}
        )

    async def on_revoked(app: Any, revoked: set[Any], **kwargs: Any) -> None:
        # Until the new assignment, blocks go over Kafka to whoever gets the stages.
        stages.owned, regions.owned = set(), set()

    app.on_partitions_assigned.connect(on_assigned)  # type: ignore[arg-type]
    app.on_partitions_revoked.connect(on_revoked)  # type: ignore[arg-type]
