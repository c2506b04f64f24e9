"""The worker's live state and what it does with each decoded message.

:class:`Processor` is the whole stream-processing logic without Faust, in two stages:

* the *shard stage*: one :class:`SiteMonitor` per message key of the partitions this
  worker owns (``SITE``, or ``SITE/SHARD`` for a site spread over partitions:
  :mod:`pipeline.core.site_key`). It turns decoded events into rows for ClickHouse (as
  columns: one list per column, the shape column-oriented inserts want), evaluates the
  rules local to racks and links, and sums its racks into partials;
* the *site stage*: one :class:`SiteStage` per site whose own partition (the partition
  of its plain key, on the partials topic) this worker owns. It combines the newest
  partial of every shard and evaluates the site's and its domains' power rules.

A partial goes to its site stage in-process when this worker owns that stage, which is
always the case for a plain ``SITE`` key (same key, same partition number on
co-partitioned topics: they move together), so an unsharded site costs no hop. For a
shard whose site stage is elsewhere, the partial is returned in :attr:`Outcome.partials`
for the worker to publish on the partials topic, coalesced: after a message that moved
the shard's sums, at most one per ``partial_interval_ms`` per shard, plus one per tick
(with the sums per power-domain leaf) as a heartbeat.

Alert states live in one :class:`AlertBook` per durable key: the message key for the
shard stage's alerts, the site for the site stage's (the same book for a plain key). The
worker saves each under its key, in the partition that key hashes to: the partition this
worker processes it from.

Energy at ingest (:mod:`pipeline.core.energy`) is shard-stage work: each key's monitor
integrates its GPUs, racks, facility meters and work counters
(:class:`pipeline.core.energy.book.SiteEnergy`), so that state moves and is forgotten
with the key's partition; the fleet's job map and the ``priority_inversion`` rule are the
processor's :class:`EnergyBook`, called once per message and once per key per tick.

Per reading it does one dict update and a few list appends; everything per key or site
(sums, rules) runs once per message or once per tick, not per reading.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.core.alert_book import AlertBook
from pipeline.core.energy.book import EnergyBook
from pipeline.core.energy.meters import facility_rows, work_rows
from pipeline.core.partial import PARTIAL_INTERVAL_MS, Partial
from pipeline.core.policy import RuleConfig, SitePolicy
from pipeline.core.readings import gpu_columns, link_columns, rack_power_columns
from pipeline.core.rows import DOMAIN_POWER_COLUMNS, SITE_POWER_COLUMNS, Columns
from pipeline.core.site import SiteMonitor
from pipeline.core.site_key import SiteKey
from pipeline.core.site_stage import SiteStage
from pipeline.events import (
    Alert,
    FacilityPower,
    GpuSample,
    LinkCounters,
    RackPower,
    SiteSpec,
    WorkCounter,
)

logger = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What one message or tick produced."""

    columns: Columns | None = None
    alerts: list[Alert] = field(default_factory=list)
    domain_columns: Columns | None = None  # tick: rows of domain_power
    forgotten: int = 0  # tick: racks forgotten after forget_after of silence
    partials: list[Partial] = field(default_factory=list)  # for site stages elsewhere


class Processor:
    def __init__(
        self,
        config: RuleConfig,
        spec_of: Callable[[str], SiteSpec | None],
        durable_of: Callable[[str], dict[str, Any] | None],
        stage_partition: Callable[[str], int | None] | None = None,
        partial_interval_ms: int = PARTIAL_INTERVAL_MS,
    ) -> None:
        self.config = config
        self.spec_of = spec_of  # site -> its spec from control.sites, or None
        self.durable_of = durable_of  # durable key -> its durable alert states, or None
        #: site -> the partition of its site stage when this worker owns it, else None;
        #: without one, every site stage is here (one worker owning everything)
        self.stage_partition = stage_partition or (lambda site: 0)
        self.partial_interval_ms = partial_interval_ms
        self.monitors: dict[str, SiteMonitor] = {}  # message key -> its live state
        self.stages: dict[str, SiteStage] = {}  # site -> its site stage, owned here
        self.books: dict[str, AlertBook] = {}  # durable key -> alert states
        self.partition_of: dict[str, int] = {}  # key or site -> its partition
        #: keys whose sums moved since their last partial went over Kafka
        self._dirty: set[str] = set()
        self.unspecced_logged: set[str] = set()
        self._policies: dict[str, tuple[SiteSpec | None, SitePolicy]] = {}
        #: the job map and the priority rules; the integration state is each monitor's
        self.energy = EnergyBook()

    # --- state per key and per site ----------------------------------------------------
    def monitor(self, key: str, partition: int, now_ms: int) -> SiteMonitor:
        monitor = self.monitors.get(key)
        if monitor is None:
            parts = SiteKey.of(key)
            site = parts.site
            book = self._book(key, site, partition)
            stage = None if parts.shard else self.stage(site, partition, now_ms)
            monitor = SiteMonitor(
                site, self.config, now_ms, None, shard=parts.shard, book=book, stage=stage
            )
            self.monitors[key] = monitor
            self.partition_of[key] = partition
            if self.spec_of(site) is None and site not in self.unspecced_logged:
                self.unspecced_logged.add(site)
                logger.warning(
                    "site %s has no spec in control.sites: stored and counted, "
                    "evaluated against no cap (megawatch sites apply)",
                    site,
                )
        return monitor

    def stage(self, site: str, partition: int, now_ms: int) -> SiteStage:
        """The site stage of ``site`` (on ``partition``, the partition of its plain key),
        created warming up the first time."""
        stage = self.stages.get(site)
        if stage is None:
            book = self._book(site, site, partition)
            stage = self.stages[site] = SiteStage(site, self.config, now_ms, book)
            self.partition_of[site] = partition
        return stage

    def _book(self, key: str, site: str, partition: int) -> AlertBook:
        book = self.books.get(key)
        if book is None:
            book = self.books[key] = AlertBook(site, self.durable_of(key))
        return book

    def shared_book(self, key: str, partition: int) -> AlertBook:
        """The alert book of durable key ``key`` (a site, or a region) for the wave
        stream's stages (:mod:`pipeline.core.wave.processor`): one book per durable key,
        so the key's saved states are one dict whichever stream stepped them."""
        self.partition_of.setdefault(key, partition)
        return self._book(key, key, partition)

    def policy(self, site: str) -> SitePolicy:
        """The site's policy, rebuilt only when its spec changes (a new parsed object)."""
        spec = self.spec_of(site)
        cached = self._policies.get(site)
        if cached is not None and cached[0] is spec:
            return cached[1]
        policy = SitePolicy.of(site, spec, self.config)
        self._policies[site] = (spec, policy)
        return policy

    def revoke(self, partitions: set[int]) -> list[str]:
        """Forget the keys and site stages of revoked partitions; they warm up again if
        they come back. Returns the names forgotten."""
        gone = [name for name, p in self.partition_of.items() if p in partitions]
        for name in gone:
            del self.partition_of[name]
            self.monitors.pop(name, None)
            self.stages.pop(name, None)
            self.books.pop(name, None)
            self._dirty.discard(name)
        live = {m.site for m in self.monitors.values()} | set(self.stages)
        for site in [s for s in self._policies if s not in live]:
            del self._policies[site]
        return gone

    # --- messages ----------------------------------------------------------------------
    def rack_power(
        self,
        events: Sequence[RackPower],
        partition: int,
        offset: int,
        now_ms: int,
        key: str | None = None,
    ) -> Outcome:
        """``key``: the message key (None: the events' site, a plain key)."""
        site = events[0].site  # the decoder guarantees one site per message (the key's)
        monitor = self.monitor(key or site, partition, now_ms)
        columns = rack_power_columns(events, partition, offset)
        racks, ts, watts = columns[1], columns[2], columns[3]
        moved = monitor.power.update_many(racks, ts, watts)
        policy = self.policy(site)
        outcome = self._after_power(monitor, now_ms, policy, moved > 0)
        tree = monitor.domain_tree(policy)
        columns += monitor.energy.rack_columns(racks, ts, watts, policy.stale_after_ms, tree)
        outcome.columns = columns
        return outcome

    def _after_power(
        self, monitor: SiteMonitor, now_ms: int, policy: SitePolicy, moved: bool
    ) -> Outcome:
        """After a rack power message: the site's power rules right away when its site
        stage is here; else the shard's partial, unless one went less than
        ``partial_interval_ms`` ago (then :meth:`due_partials` sends it)."""
        stage = self._local_stage(monitor, now_ms)
        if stage is not None:
            stage.receive(monitor.partial(now_ms, policy, with_leaves=False))
            return Outcome(alerts=stage.evaluate_site(now_ms, policy))
        if moved:
            self._dirty.add(monitor.key)
        sent = monitor.sent_ms
        due = sent is None or now_ms - sent >= self.partial_interval_ms
        if due and monitor.key in self._dirty:
            return Outcome(partials=[self._send(monitor, now_ms, policy, with_leaves=False)])
        return Outcome()

    def _local_stage(self, monitor: SiteMonitor, now_ms: int) -> SiteStage | None:
        """The site stage of the monitor's site when this worker owns it, else None."""
        if monitor.stage is not None:
            return monitor.stage  # a plain key: its stage is always here
        partition = self.stage_partition(monitor.site)
        return None if partition is None else self.stage(monitor.site, partition, now_ms)

    def _send(
        self, monitor: SiteMonitor, now_ms: int, policy: SitePolicy, with_leaves: bool
    ) -> Partial:
        monitor.sent_ms = now_ms
        self._dirty.discard(monitor.key)
        return monitor.partial(now_ms, policy, with_leaves)

    def due_partials(self, now_ms: int) -> list[Partial]:
        """Partials held back by the interval whose time has come (a timer asks often)."""
        interval = self.partial_interval_ms
        due = [
            m
            for m in map(self.monitors.get, list(self._dirty))
            if m is not None and (m.sent_ms is None or now_ms - m.sent_ms >= interval)
        ]
        return [self._send(m, now_ms, self.policy(m.site), with_leaves=False) for m in due]

    def receive_partial(self, partial: Partial, partition: int, now_ms: int) -> Outcome | None:
        """A partial from the partials topic, for the site stage on ``partition``: held if
        it is its shard's newest, then the site's power rules; None when it changed
        nothing (a replayed or older partial)."""
        stage = self.stage(partial.site, partition, now_ms)
        if not stage.receive(partial):
            return None
        return Outcome(alerts=stage.evaluate_site(now_ms, self.policy(partial.site)))

    def gpu(
        self,
        events: Sequence[GpuSample],
        partition: int,
        offset: int,
        now_ms: int,
        key: str | None = None,
    ) -> Outcome:
        site = events[0].site
        monitor = self.monitor(key or site, partition, now_ms)
        max_gap_ms = self.policy(site).stale_after_ms
        return Outcome(gpu_columns(monitor, events, partition, offset, self.energy, max_gap_ms))

    def facility(
        self,
        events: Sequence[FacilityPower],
        partition: int,
        offset: int,
        now_ms: int,
        key: str | None = None,
    ) -> Outcome:
        """Facility meters: rows with their energy intervals (no rule reads them)."""
        site = events[0].site
        state = self.monitor(key or site, partition, now_ms).energy
        max_gap_ms = self.policy(site).stale_after_ms
        return Outcome(facility_rows(state, events, partition, offset, max_gap_ms))

    def work(
        self,
        events: Sequence[WorkCounter],
        partition: int,
        offset: int,
        now_ms: int,
        key: str | None = None,
    ) -> Outcome:
        """Work counters: rows with their deltas (no rule reads them)."""
        state = self.monitor(key or events[0].site, partition, now_ms).energy
        return Outcome(work_rows(state, events, partition, offset))

    def link(
        self,
        events: Sequence[LinkCounters],
        partition: int,
        offset: int,
        now_ms: int,
        key: str | None = None,
    ) -> Outcome:
        site = events[0].site
        monitor = self.monitor(key or site, partition, now_ms)
        columns, health = link_columns(monitor, events, partition, offset)
        links = sorted(set(columns[1]))
        alerts = monitor.evaluate_links(links, now_ms, self.policy(site), sorted(health))
        return Outcome(columns, alerts)

    # --- the periodic tick ---------------------------------------------------------------
    def tick_keys(self, now_ms: int, keys: Sequence[str]) -> Outcome:
        """The shard stage's tick of ``keys``: each key's partial with its leaves (to its
        site stage here, else returned to be sent), the link, GPU and priority rules,
        forgetting racks (and energy entities) silent past forget_after."""
        out = Outcome()
        for key in keys:
            monitor = self.monitors.get(key)
            if monitor is None:
                continue  # its partition moved away meanwhile
            policy = self.policy(monitor.site)
            stage = self._local_stage(monitor, now_ms)
            if stage is not None:
                stage.receive(monitor.partial(now_ms, policy))
            else:
                out.partials.append(self._send(monitor, now_ms, policy, with_leaves=True))
            out.alerts += monitor.evaluate_gpus(now_ms, policy)
            spec = self.spec_of(monitor.site)
            out.alerts += monitor.evaluate_priorities(now_ms, policy, self.energy, spec)
            out.alerts += monitor.evaluate_link_silence(now_ms, policy)
            if monitor.sweep_due(now_ms):
                gone, resolved = monitor.forget(now_ms, policy)
                out.alerts += resolved
                if gone:
                    out.forgotten += gone
                    logger.info(
                        "%s: forgot %d racks silent for over %.0f h",
                        key,
                        gone,
                        policy.forget_after_ms / 3_600_000,
                    )
        return out

    def tick_stages(self, now_ms: int, sites: Sequence[str]) -> Outcome:
        """The site stage's tick of ``sites``: staleness and coverage, the per-site and
        per-domain series rows, and the power rules of the site and every domain."""
        columns: Columns = [[] for _ in SITE_POWER_COLUMNS]
        domain_columns: Columns = [[] for _ in DOMAIN_POWER_COLUMNS]
        alerts: list[Alert] = []
        for site in sites:
            stage = self.stages.get(site)
            if stage is None:
                continue  # its partition moved away meanwhile
            policy = self.policy(site)
            row, domain_rows, fired = stage.evaluate(now_ms, policy)
            alerts += fired
            for column, value in zip(columns, row.values(), strict=True):
                column.append(value)
            for domain_row in domain_rows:
                for column, value in zip(domain_columns, domain_row.values(), strict=True):
                    column.append(value)
            gone = stage.forget(now_ms, policy)
            if gone:
                logger.info("site %s: forgot shards silent past forget_after: %s", site, gone)
        return Outcome(columns, alerts, domain_columns)

    def tick_sites(self, now_ms: int, names: Sequence[str]) -> Outcome:
        """The whole tick of ``names`` (keys and sites): first every key's (so that a
        site stage here combines this tick's partials), then every site stage's."""
        names = list(dict.fromkeys(names))  # a plain site's key is its site: once each
        shards = self.tick_keys(now_ms, [n for n in names if n in self.monitors])
        stages = self.tick_stages(now_ms, [n for n in names if n in self.stages])
        stages.alerts = shards.alerts + stages.alerts
        stages.partials = shards.partials
        stages.forgotten = shards.forgotten
        return stages

    def dirty_alert_states(self) -> dict[str, dict[str, Any]]:
        """Durable alert states of keys whose alerts changed since the last call."""
        return {key: book.durable() for key, book in self.books.items() if book.dirty}
