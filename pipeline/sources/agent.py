"""Wiring of a site agent: a source, the Kafka publisher, the loop; in a thread or not.

For the CLI and for in-process use (the demo)::

    endpoint, broker = resolve_kafka(settings, start_if_missing=False)
    source = simulated_fleet(generate_fleet(12), ["cap-breach", "wan-loss"], seed=1)
    agent = AgentRun(source, kafka_publisher(settings, endpoint)).start()
    ...
    result = agent.stop()  # flushes what is buffered (up to 10 s), joins the thread
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pipeline.broker.probe import kafka_cluster_id
from pipeline.kafka.endpoint import KafkaEndpoint, kafka_python_options
from pipeline.settings import Settings
from pipeline.sources.base import DEFAULT_BATCH_SIZE, Source
from pipeline.sources.buffer import DEFAULT_CAPACITY_BYTES, Outbox, OutboxStats
from pipeline.sources.kind import BuildContext, Printout
from pipeline.sources.loop import AgentLoop, LoopStats
from pipeline.sources.publisher import KafkaPublisher
from pipeline.sources.registry import SimSourceOptions
from pipeline.sources.sim.fleet import Fleet, load_fleet
from pipeline.sources.sim.fleet_gen import generate_fleet, single_site_fleet
from pipeline.sources.sim.simulator import FleetSimulator, SimOptions, SimSource

logger = logging.getLogger(__name__)

_REQUEST_OVERHEAD = 64 * 1024  # a produce request carries headers around the batch


def producer_options(settings: Settings, endpoint: KafkaEndpoint) -> dict[str, Any]:
    options = kafka_python_options(settings, endpoint, "producer")
    options["client_id"] = "megawatch-agent"
    options["max_request_size"] = settings.max_message_bytes + _REQUEST_OVERHEAD
    return options


def kafka_publisher(
    settings: Settings,
    endpoint: KafkaEndpoint,
    *,
    buffer_bytes: int = DEFAULT_CAPACITY_BYTES,
    create_topics: bool = True,
) -> KafkaPublisher:
    """A publisher to ``endpoint``; it creates the contract's topics before sending."""

    def connect() -> Any:
        from kafka import KafkaProducer

        return KafkaProducer(**producer_options(settings, endpoint))

    def prepare() -> object:
        from pipeline.kafka.topics import ensure_topics

        return ensure_topics(settings, endpoint)

    return KafkaPublisher(
        connect,
        Outbox(buffer_bytes),
        describe=f"Kafka at {endpoint.bootstrap}",
        prepare=prepare if create_topics else None,
        cluster_id=_embedded_cluster_probe(endpoint),
        expected_cluster=endpoint.cluster_id,
    )


def _embedded_cluster_probe(endpoint: KafkaEndpoint) -> Callable[[], str | None] | None:
    """For the in-memory embedded broker: who answers at its address (see publisher)."""
    if not endpoint.embedded:
        return None
    host, _, port = endpoint.servers[0].rpartition(":")
    return lambda: kafka_cluster_id(host, int(port), timeout=0.5)


def simulated_fleet(
    fleet: Fleet,
    scenarios: Iterable[str] = ("steady",),
    *,
    seed: int = 0,
    interval_s: float = 1.0,
    gpu_every: int = 1,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_bytes: int = 1_048_576,
    breach_site: str | None = None,
    wan_link: str | None = None,
    effects_at_s: float = 10.0,
    start_ms: int | None = None,
) -> SimSource:
    """The simulator as a source; scenario notes are logged (and kept in ``.simulator.plan``).

    ``effects_at_s``: when the scripted effects of cap-breach, wan-loss and stale-racks
    begin, in seconds after the first tick."""
    options = SimOptions(seed=seed, interval_s=interval_s, start_ms=start_ms, gpu_every=gpu_every)
    simulator = FleetSimulator.from_names(
        fleet,
        scenarios,
        options,
        breach_site=breach_site,
        wan_link=wan_link,
        effects_at_s=effects_at_s,
    )
    for note in simulator.plan.notes:
        logger.info("%s", note)
    return SimSource(simulator, batch_size, max_bytes)


def sim_source(options: SimSourceOptions, context: BuildContext) -> SimSource | Printout:
    """``--source sim``: the fleet of ``--fleet``, ``--sites N`` or one ``--site``, or its
    file (``--print-fleet``)."""
    sites = list(options.sites)
    if options.fleet is not None:
        fleet = load_fleet(options.fleet)
    elif options.n_sites is not None:
        fleet = generate_fleet(options.n_sites)
    else:  # one --site (checked by the options)
        fleet, sites = single_site_fleet(sites[0], options.profile), []
    if sites:
        fleet = fleet.only(sites)
    fleet = fleet.scaled(options.scale)
    if options.print_fleet:
        return Printout(fleet.to_yaml())
    return simulated_fleet(
        fleet,
        options.scenarios,
        seed=options.seed,
        interval_s=options.interval_s,
        gpu_every=options.gpu_every,
        batch_size=options.batch_size,
        max_bytes=context.settings.max_message_bytes,
        breach_site=options.breach_site,
        wan_link=options.wan_link,
        effects_at_s=options.effects_at_s,
    )


@dataclass(frozen=True)
class AgentResult:
    loop: LoopStats
    outbox: OutboxStats
    compression_ratio: float | None = None  # lz4 compressed / raw bytes, as kafka-python saw

    @property
    def undelivered(self) -> int:
        return self.outbox.pending + self.outbox.in_flight + self.outbox.unconfirmed

    def summary(self) -> str:
        o, loop = self.outbox, self.loop
        return (
            f"{loop.ticks} ticks, {loop.messages} messages ({loop.bytes / 1e6:.1f} MB); "
            f"delivered {o.delivered}, dropped {o.dropped} (buffer full), retried {o.retried}, "
            f"refused {o.rejected}, undelivered {self.undelivered}"
            + (f"; lz4 to {self.compression_ratio:.0%}" if self.compression_ratio else "")
        )


class AgentRun:
    """One agent: its loop runs in the calling thread (``run``) or its own (``start``)."""

    def __init__(
        self,
        source: Source,
        publisher: KafkaPublisher,
        *,
        paced: bool = True,
        duration_s: float | None = None,
        max_ticks: int | None = None,
        flush_timeout_s: float = 10.0,
    ) -> None:
        self.source, self.publisher = source, publisher
        self.flush_timeout_s = flush_timeout_s
        self.stop_event = threading.Event()
        self.loop = AgentLoop(
            source,
            publisher,
            paced=paced,
            duration_s=duration_s,
            max_ticks=max_ticks,
            stop=self.stop_event,
        )
        self._thread: threading.Thread | None = None
        self.result: AgentResult | None = None
        self.error: BaseException | None = None

    def run(self) -> AgentResult:
        """Run to the end (limits, source exhausted or :meth:`stop`), flush, close."""
        logger.info("agent: %s -> %s", self.source.describe(), self.publisher.describe)
        self.publisher.start()
        try:
            self.loop.run()
        finally:
            outbox = self.publisher.close(self.flush_timeout_s)
            self.result = AgentResult(self.loop.stats, outbox, self.publisher.compression_ratio)
            logger.info("agent finished: %s", self.result.summary())
        return self.result

    def _run_in_thread(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # reported by stop()/join()
            logger.exception("agent thread failed")
            self.error = exc

    def start(self) -> AgentRun:
        self._thread = threading.Thread(
            target=self._run_in_thread, name="megawatch-agent", daemon=True
        )
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> AgentResult | None:
        if self._thread is not None:
            self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        return self.result

    def stop(self, timeout: float | None = None) -> AgentResult | None:
        """Stop ticking, deliver what is buffered (up to the flush timeout), join."""
        self.stop_event.set()
        return self.join(timeout if timeout is not None else self.flush_timeout_s + 5.0)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
