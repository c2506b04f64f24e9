"""``create_app(settings)``: the Faust app of a megawatch worker, wired to its edges.

Topics carry raw bytes (decoding is ours, batched and fast); Faust supplies the consumer
group, partition assignment, the changelog-backed table of durable alert states and
the GlobalTables of site specs and of the job map from the compacted ``control.sites``
and ``control.jobs`` topics. Hot state
lives in :class:`pipeline.core.processor.Processor`, history goes to ClickHouse through
:class:`pipeline.worker.sink.ClickHouseSink`.

Two stages, both Faust agents: the telemetry agents are the shard stage (per message key,
``SITE`` or ``SITE/SHARD``); ``megawatch.site_stage`` reads the partials topic, keyed by
site, for the site stages this worker owns. A partial for a site stage this worker owns
never leaves the process (:class:`SiteStages` says which it owns).
"""

from __future__ import annotations

import logging
from typing import Any

import faust
import mode
from faust.types import TP

from pipeline.core.decode import MessageDecoder
from pipeline.core.processor import Processor
from pipeline.events import FacilityPower, GpuSample, LinkCounters, RackPower, WorkCounter
from pipeline.kafka.endpoint import KafkaEndpoint, faust_options, resolve_kafka
from pipeline.kafka.faust_fixes import DRAIN_ATTR, MegawatchTableManager
from pipeline.kafka.tansu import MegawatchApp
from pipeline.kafka.topics import (
    ALERTS,
    DEADLETTER,
    FACILITY,
    GPU,
    LINK,
    PARTIALS,
    RACK_POWER,
    WORK,
    key_partition,
)
from pipeline.settings import Settings
from pipeline.sites import SpecCache
from pipeline.worker.handlers import TELEMETRY, Handlers, Publishers
from pipeline.worker.identity import IDENTITIES, via_of, without_stored_identities
from pipeline.worker.parameters import decode_limits, rule_config
from pipeline.worker.resources import WorkerResources, open_resources
from pipeline.worker.services import register_services
from pipeline.worker.sink import ClickHouseSink
from pipeline.worker.tables import RAW, alert_state_table, job_table, spec_table
from pipeline.worker.topic_rows import without_stored_dead_letters
from pipeline.worker.wave_app import register_waves
from pipeline.worker.web import register_views

logger = logging.getLogger(__name__)

STREAM_BUFFER_MESSAGES = 256
#: A partition whose oldest message is not done after this long is reported (a stall:
#: acks go out in offset order, so nothing after it is committed); checked this often.
STALL_WARN_S = 60.0
STALL_CHECK_S = 5.0


def create_app(
    settings: Settings,
    *,
    endpoint: KafkaEndpoint | None = None,
    resources: WorkerResources | None = None,
) -> faust.App:
    """The worker's Faust app; ``endpoint`` and ``resources`` default to the settings'."""
    if endpoint is None:
        endpoint, _ = resolve_kafka(settings, start_if_missing=False)
    if resources is None:
        resources = open_resources(settings, endpoint)
    app = _faust_app(settings, endpoint)
    topics = {
        name: app.topic(name, partitions=settings.kafka_partitions, **RAW)
        for name in (*TELEMETRY, DEADLETTER, ALERTS, PARTIALS)
    }
    stages = SiteStages(settings.kafka_partitions)
    handlers = _handlers(app, settings, topics, resources, stages)
    # Faust's wait for acks (rebalance, stop) keeps the sink flushing: acks need a flush
    setattr(app, DRAIN_ATTR, handlers.sink.flush)
    handlers.positions.ledger.log_end = lambda topic, partition: _log_end(app, topic, partition)
    _register_agents(app, topics, handlers)
    _register_timers(app, settings, handlers)
    _register_rebalance(app, handlers, stages)
    register_services(app, settings, endpoint, resources)
    register_views(app, handlers, resources)
    # power waves (issue 22): their topics, agents, tick, DR table and /api/dr
    register_waves(app, settings, resources, handlers)
    return app


def _faust_app(settings: Settings, endpoint: KafkaEndpoint) -> faust.App:
    return MegawatchApp(
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
        # Messages queued per agent while it waits (back-pressure): Faust's default of
        # 4096 batch messages (up to MEGAWATCH_MAX_MESSAGE_BYTES each) per topic would
        # hold gigabytes while the store is down.
        stream_buffer_maxsize=STREAM_BUFFER_MESSAGES,
        TableManager=MegawatchTableManager,
    )


def _log_end(app: faust.App, topic: str, partition: int) -> int | None:
    """The partition's end offset from the last fetch (right on Tansu too, where the
    listed end offsets lag: ../shared/MEASURED.md)."""
    try:
        end = app.consumer.highwater(TP(topic, partition))
    except Exception:  # not fetched yet, or no consumer: no opinion
        return None
    return int(end) if end is not None else None


class SiteStages:
    """Which site stages this worker owns: those whose site key hashes to a partition of
    the partials topic assigned to it (kept by the rebalance hooks)."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self.owned: set[int] = set()

    def partition_of(self, site: str) -> int | None:
        """The partition of ``site``'s stage when this worker owns it, else None."""
        partition = key_partition(site.encode(), self.partitions)
        return partition if partition in self.owned else None


def _handlers(
    app: faust.App,
    settings: Settings,
    topics: dict[str, Any],
    resources: WorkerResources,
    stages: SiteStages,
) -> Handlers:
    """The handlers, wired to the two tables, the topics they publish to and the sink."""
    sites_table = spec_table(app)
    alert_states = alert_state_table(app, settings.kafka_partitions)
    specs = SpecCache(lambda site: sites_table.get(site.encode()))

    def durable_of(key: str) -> dict[str, Any] | None:
        value = alert_states.get(key.encode())
        return value if isinstance(value, dict) else None

    def save_alert_states(key: str, durable: dict[str, Any]) -> None:
        alert_states[key.encode()] = durable

    async def send(topic: str, key: bytes | None, value: bytes) -> None:
        fut = await topics[topic].send(key=key, value=value)
        await fut  # delivered: acks and durable writes may follow

    async def queue(topic: str, key: bytes, value: bytes) -> None:
        await topics[topic].send(key=key, value=value)  # in the producer's buffer

    metrics = resources.metrics
    sink = ClickHouseSink(
        resources.store,
        resources.cluster_id,
        max_rows=settings.sink_max_rows,
        flush_interval=settings.sink_flush_interval_s,
        max_buffered_rows=settings.sink_max_buffered_rows,
        on_flushed=metrics.on_flushed,
        on_failed=metrics.sink_failures.inc,
        on_state=metrics.on_sink_state,
        before_insert={
            "dead_letters": without_stored_dead_letters,
            **{table: without_stored_identities(table) for table in IDENTITIES},
        },
    )
    limits = decode_limits(settings)
    decoders: dict[str, MessageDecoder[Any]] = {
        RACK_POWER: MessageDecoder(RackPower, limits),
        GPU: MessageDecoder(GpuSample, limits),
        LINK: MessageDecoder(LinkCounters, limits),
        FACILITY: MessageDecoder(FacilityPower, limits),
        WORK: MessageDecoder(WorkCounter, limits),
    }
    publishers = Publishers(
        lambda k, v: send(ALERTS, k, v),
        lambda k, v: send(DEADLETTER, k, v),
        save_alert_states,
        lambda k, v: queue(PARTIALS, k, v),
    )
    processor = Processor(
        rule_config(settings),
        specs.get,
        durable_of,
        stages.partition_of,
        settings.partial_interval_ms,
    )
    job_table(app, processor.energy.jobs.apply)  # the job map, fed as control.jobs is read
    return Handlers(processor, sink, decoders, publishers, metrics)


def _register_agents(app: faust.App, topics: dict[str, Any], handlers: Handlers) -> None:
    for name in TELEMETRY:

        async def telemetry(stream: Any) -> None:
            async for event in stream.noack().events():
                m = event.message
                await handlers.telemetry(
                    m.topic,
                    m.partition,
                    m.offset,
                    event.key,
                    event.value,
                    event.ack,
                    via_of(m.headers),
                )

        app.agent(topics[name], name=f"megawatch.{name}")(telemetry)

    for name in (ALERTS, DEADLETTER):

        async def stored(stream: Any) -> None:
            async for event in stream.noack().events():
                m = event.message
                await handlers.stored_topic(m.topic, m.partition, m.offset, event.value, event.ack)

        app.agent(topics[name], name=f"megawatch.store.{name}")(stored)

    async def site_stage(stream: Any) -> None:
        # Partials are soft state, superseded every tick: acked as they are read.
        async for event in stream.events():
            await handlers.partials.receive(event.message.partition, event.value)

    app.agent(topics[PARTIALS], name="megawatch.site_stage")(site_stage)


def _register_timers(app: faust.App, settings: Settings, handlers: Handlers) -> None:
    sink = handlers.sink

    # Faust's decorators are untyped: the functions below keep their own annotations.
    @app.timer(settings.eval_interval_s, name="megawatch.tick")  # type: ignore[untyped-decorator]
    async def tick() -> None:
        await handlers.tick()

    @app.timer(settings.partial_interval_ms / 2000, name="megawatch.partials")  # type: ignore[untyped-decorator]
    async def partials() -> None:
        await handlers.partials.flush()

    @app.timer(settings.sink_flush_interval_s / 4, name="megawatch.flush")  # type: ignore[untyped-decorator]
    async def flush() -> None:
        if sink.due():
            await sink.flush()

    @app.timer(STALL_CHECK_S, name="megawatch.stall_watch")  # type: ignore[untyped-decorator]
    async def stall_watch() -> None:
        handlers.positions.watch_pending(STALL_WARN_S)

    @app.service
    class SinkCloser(mode.Service):
        """Flushes what is buffered when the worker stops."""

        async def on_stop(self) -> None:
            await sink.flush()


def _register_rebalance(app: faust.App, handlers: Handlers, stages: SiteStages) -> None:
    async def on_assigned(app: Any, assigned: set[Any], **kwargs: Any) -> None:
        # Rebalances are eager (everything revoked, then assigned): keep the live state
        # of partitions we still own, forget the others (they warm up elsewhere).
        owned = {tp.partition for tp in assigned if tp.topic in (*TELEMETRY, PARTIALS)}
        stages.owned = {tp.partition for tp in assigned if tp.topic == PARTIALS}
        known = set(handlers.processor.partition_of.values())
        gone = handlers.processor.revoke(known - owned)
        if gone:
            logger.info("forgot %d keys and sites of partitions now owned elsewhere", len(gone))
        for topic in (*TELEMETRY, ALERTS, DEADLETTER):
            handlers.positions.keep_partitions(
                topic, {tp.partition for tp in assigned if tp.topic == topic}
            )

    async def on_revoked(app: Any, revoked: set[Any], **kwargs: Any) -> None:
        # Until the new assignment, partials go over Kafka to whoever gets the stages.
        stages.owned = set()
        await handlers.sink.flush()

    app.on_partitions_assigned.connect(on_assigned)  # type: ignore[arg-type]
    app.on_partitions_revoked.connect(on_revoked)  # type: ignore[arg-type]
