"""``create_app(settings)``: the Faust app of a megawatch worker, wired to its edges.

Topics carry raw bytes (decoding is ours, batched and fast); Faust supplies the consumer
group, partition assignment, the changelog-backed table of durable alert states and
the GlobalTable of site specs from the compacted ``control.sites`` topic. Hot state
lives in :class:`pipeline.core.processor.Processor`, history goes to ClickHouse through
:class:`pipeline.sink.ClickHouseSink`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import faust
import mode

from pipeline.agents import TELEMETRY, Handlers, Publishers
from pipeline.core.config import RuleConfig
from pipeline.core.decode import Limits, MessageDecoder
from pipeline.core.processor import Processor
from pipeline.core.rules import Timing
from pipeline.events import GpuSample, LinkClass, LinkCounters, RackPower
from pipeline.faust_fixes import MegawatchTableManager
from pipeline.kafka_conn import KafkaEndpoint, faust_options, resolve_kafka
from pipeline.metrics import Metrics
from pipeline.sink import ClickHouseSink
from pipeline.sites import SpecCache
from pipeline.tansu import MegawatchApp
from pipeline.topics import ALERTS, DEADLETTER, GPU, LINK, RACK_POWER
from pipeline.worker_services import register_services
from pipeline.worker_tables import RAW, alert_state_table, spec_table

if TYPE_CHECKING:
    from pipeline.store import Store

logger = logging.getLogger(__name__)

def rule_config(settings: Any) -> RuleConfig:
    def ms(seconds: float) -> int:
        return int(seconds * 1000)

    return RuleConfig(
        stale_after_ms=ms(settings.stale_after_s),
        cap_timing=Timing(ms(settings.cap_for_s), ms(settings.cap_resolve_for_s)),
        hysteresis=settings.hysteresis,
        forecast_horizon_ms=ms(settings.forecast_horizon_s),
        forecast_window_ms=ms(settings.forecast_window_s),
        loss_window_ms=ms(settings.loss_window_s),
        loss_timing=Timing(ms(settings.loss_for_s), ms(settings.loss_resolve_for_s)),
        loss_min_tx=settings.loss_min_tx_packets,
        loss_defaults={
            LinkClass.fabric: (settings.loss_warn_fabric, settings.loss_crit_fabric),
            LinkClass.wan: (settings.loss_warn_wan, settings.loss_crit_wan),
        },
        idle_share=settings.idle_power_share,
        idle_timing=Timing(ms(settings.idle_for_s), ms(settings.idle_for_s) // 5),
    )


def decode_limits(settings: Any) -> Limits:
    return Limits(
        max_message_bytes=settings.max_message_bytes,
        max_age=timedelta(seconds=settings.max_event_age_s),
        max_skew=timedelta(seconds=settings.max_clock_skew_s),
    )


@dataclass
class WorkerResources:
    """What a worker holds besides Faust: the store (owned), the cluster id, metrics."""

    store: Store
    cluster_id: str
    metrics: Metrics = field(default_factory=Metrics)


def create_app(
    settings: Any,
    *,
    endpoint: KafkaEndpoint | None = None,
    resources: WorkerResources | None = None,
) -> faust.App:
    """The worker's Faust app; ``endpoint`` and ``resources`` default to the settings'."""
    if endpoint is None:
        endpoint, _ = resolve_kafka(settings, start_if_missing=False)
    if resources is None:
        resources = open_resources(settings, endpoint)
    app = MegawatchApp(
        settings.consumer_group,
        embedded_broker=endpoint.embedded,
        **faust_options(settings, endpoint),
        topic_partitions=settings.kafka_partitions,
        topic_replication_factor=settings.kafka_replication,
        store="memory://",
        datadir=str(settings.data_dir / "faust"),
        consumer_auto_offset_reset="earliest",
        table_standby_replicas=0,
        web_enabled=True,
        web_bind=settings.web_host,
        web_port=settings.web_port,
        web_host=settings.web_host,
        producer_compression_type="lz4",
        TableManager=MegawatchTableManager,
    )
    topics = {name: app.topic(name, partitions=settings.kafka_partitions, **RAW)
              for name in (RACK_POWER, GPU, LINK, DEADLETTER, ALERTS)}
    sites_table = spec_table(app)
    alert_states = alert_state_table(app, settings.kafka_partitions)
    specs = SpecCache(lambda site: sites_table.get(site.encode()))

    def durable_of(site: str) -> dict[str, Any] | None:
        value = alert_states.get(site.encode())
        return value if isinstance(value, dict) else None

    def save_alert_states(site: str, durable: dict[str, Any]) -> None:
        alert_states[site.encode()] = durable

    async def send(topic: str, key: bytes | None, value: bytes) -> None:
        fut = await topics[topic].send(key=key, value=value)
        await fut  # delivered: acks and durable writes may follow

    metrics = resources.metrics
    sink = ClickHouseSink(resources.store, resources.cluster_id, max_rows=settings.sink_max_rows,
                          flush_interval=settings.sink_flush_interval_s,
                          on_flushed=metrics.on_flushed,
                          on_failed=metrics.sink_failures.inc)
    limits = decode_limits(settings)
    decoders: dict[str, MessageDecoder[Any]] = {RACK_POWER: MessageDecoder(RackPower, limits),
                GPU: MessageDecoder(GpuSample, limits),
                LINK: MessageDecoder(LinkCounters, limits)}
    handlers = Handlers(
        Processor(rule_config(settings), specs.get, durable_of), sink, decoders,
        Publishers(lambda k, v: send(ALERTS, k, v), lambda k, v: send(DEADLETTER, k, v),
                   save_alert_states),
        metrics,
    )
    app.megawatch = handlers  # type: ignore[attr-defined]  # for the web views and tests
    _register_agents(app, topics, handlers)
    _register_timers(app, settings, handlers)
    _register_rebalance(app, handlers)
    register_services(app, settings, endpoint, resources)
    from pipeline.web import register_views

    register_views(app, settings, handlers, resources)
    return app


def open_resources(settings: Any, endpoint: KafkaEndpoint) -> WorkerResources:
    from pipeline.kafka_conn import cluster_id
    from pipeline.store import open_store

    store = open_store(settings)
    store.migrate()
    return WorkerResources(store, cluster_id(endpoint, settings))


def _register_agents(app: faust.App, topics: dict[str, Any], handlers: Handlers) -> None:
    for name in TELEMETRY:

        async def telemetry(stream: Any) -> None:
            async for event in stream.noack().events():
                m = event.message
                await handlers.telemetry(m.topic, m.partition, m.offset, event.key, event.value,
                                         event.ack)

        app.agent(topics[name], name=f"megawatch.{name}")(telemetry)

    for name in (ALERTS, DEADLETTER):

        async def stored(stream: Any) -> None:
            async for event in stream.noack().events():
                m = event.message
                await handlers.stored_topic(m.topic, m.partition, m.offset, event.value,
                                            event.ack)

        app.agent(topics[name], name=f"megawatch.store.{name}")(stored)


def _register_timers(app: faust.App, settings: Any, handlers: Handlers) -> None:
    sink = handlers.sink

    @app.timer(settings.eval_interval_s, name="megawatch.tick")
    async def tick() -> None:
        await handlers.tick()

    @app.timer(settings.sink_flush_interval_s / 4, name="megawatch.flush")
    async def flush() -> None:
        if sink.due():
            await sink.flush()

    @app.service
    class SinkCloser(mode.Service):
        """Flushes what is buffered when the worker stops."""

        async def on_stop(self) -> None:
            await sink.flush()


def _register_rebalance(app: faust.App, handlers: Handlers) -> None:
    async def on_assigned(app: Any, assigned: set[Any], **kwargs: Any) -> None:
        # Rebalances are eager (everything revoked, then assigned): keep the live state
        # of partitions we still own, forget the others (they warm up elsewhere).
        owned = {tp.partition for tp in assigned if tp.topic in TELEMETRY}
        known = set(handlers.processor.partition_of.values())
        gone = handlers.processor.revoke(known - owned)
        if gone:
            logger.info("forgot %d sites of partitions now owned elsewhere", len(gone))
        for topic in (*TELEMETRY, ALERTS, DEADLETTER):
            handlers.keep_partitions(topic, {tp.partition for tp in assigned if tp.topic == topic})

    async def on_revoked(app: Any, revoked: set[Any], **kwargs: Any) -> None:
        await handlers.sink.flush()

    app.on_partitions_assigned.connect(on_assigned)  # type: ignore[arg-type]
    app.on_partitions_revoked.connect(on_revoked)  # type: ignore[arg-type]
