"""The worker's live state and what it does with each decoded message.

:class:`Processor` is the whole stream-processing logic without Faust: it keeps one
:class:`SiteMonitor` per site of the partitions this worker owns, turns decoded events
into rows for ClickHouse (as columns: one list per column, the shape column-oriented
inserts want) and evaluates the rules, returning the alerts to publish. The Faust agents
in :mod:`pipeline.worker.handlers` only feed it and ship what it returns.

Per reading it does one dict update and a few list appends; everything per site
(snapshots, rules) runs once per message or once per tick, not per reading.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import compress, islice, pairwise
from operator import ne
from typing import Any

from pipeline.core.columnar import column as field_column
from pipeline.core.energy.book import EnergyBook
from pipeline.core.energy.meters import facility_rows, work_rows
from pipeline.core.gpu import board_power_w
from pipeline.core.policy import RuleConfig, SitePolicy
from pipeline.core.rows import (
    DOMAIN_POWER_COLUMNS,
    GPU_COLUMNS,
    SITE_POWER_COLUMNS,
    Columns,
)
from pipeline.core.site import SiteMonitor
from pipeline.events import (
    Alert,
    FacilityPower,
    GpuSample,
    LinkClass,
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


class Processor:
    def __init__(
        self,
        config: RuleConfig,
        spec_of: Callable[[str], SiteSpec | None],
        durable_of: Callable[[str], dict[str, Any] | None],
    ) -> None:
        self.config = config
        self.spec_of = spec_of  # site -> its spec from control.sites, or None
        self.durable_of = durable_of  # site -> its durable alert states, or None
        self.monitors: dict[str, SiteMonitor] = {}
        self.partition_of: dict[str, int] = {}
        self.unspecced_logged: set[str] = set()
        self._policies: dict[str, tuple[SiteSpec | None, SitePolicy]] = {}
        #: energy at ingest (pipeline.core.energy): one call per message, one per tick
        self.energy = EnergyBook()

    # --- state per site --------------------------------------------------------------
    def monitor(self, site: str, partition: int, now_ms: int) -> SiteMonitor:
        monitor = self.monitors.get(site)
        if monitor is None:
            monitor = SiteMonitor(site, self.config, now_ms, self.durable_of(site))
            self.monitors[site] = monitor
            self.partition_of[site] = partition
            if self.spec_of(site) is None and site not in self.unspecced_logged:
                self.unspecced_logged.add(site)
                logger.warning(
                    "site %s has no spec in control.sites: stored and counted, "
                    "evaluated against no cap (megawatch sites apply)",
                    site,
                )
        return monitor

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
        """Forget the sites of revoked partitions; they warm up again if they come back."""
        gone = [site for site, p in self.partition_of.items() if p in partitions]
        for site in gone:
            del self.monitors[site]
            del self.partition_of[site]
            self._policies.pop(site, None)
        self.energy.forget(gone)
        return gone

    # --- messages ----------------------------------------------------------------------
    def rack_power(
        self, events: Sequence[RackPower], partition: int, offset: int, now_ms: int
    ) -> Outcome:
        ts = field_column(events, "ts")
        site = events[0].site  # the decoder guarantees one site per message (the key)
        monitor = self.monitor(site, partition, now_ms)
        racks = field_column(events, "rack")
        watts = field_column(events, "power_w")
        monitor.power.update_many(racks, ts, watts)
        policy = self.policy(site)
        _, _, alerts = monitor.evaluate_power(now_ms, policy, with_domains=False)
        n = len(events)
        columns: Columns = [
            [site] * n,
            racks,
            ts,
            watts,
            _or_empty(field_column(events, "pdu")),
            _or_empty(field_column(events, "source")),
            [partition] * n,
            [offset] * n,
        ]
        tree = monitor.domain_tree(policy)
        columns += self.energy.rack_columns(site, racks, ts, watts, policy.stale_after_ms, tree)
        return Outcome(columns, alerts)

    def gpu(self, events: Sequence[GpuSample], partition: int, offset: int, now_ms: int) -> Outcome:
        site = events[0].site
        monitor = self.monitor(site, partition, now_ms)
        got = {name: field_column(events, name) for name in _GPU_FIELDS}
        _aggregate_gpus(monitor, got)
        max_gap_ms = self.policy(site).stale_after_ms
        labels, energy = self.energy.gpu_columns(site, got, max_gap_ms)
        n = len(events)
        columns: Columns = [
            [site] * n,
            got["rack"],
            got["host"],
            got["gpu"],
            got["ts"],
            got["util_pct"],
            got["power_w"],
            _or_empty(got["vendor"]),
            _or_empty(got["model"]),
            got["mem_used_pct"],
            got["temp_c"],
            got["power_limit_w"],
            *labels,
            [partition] * n,
            [offset] * n,
            *energy,
        ]
        return Outcome(columns)

    def facility(
        self, events: Sequence[FacilityPower], partition: int, offset: int, now_ms: int
    ) -> Outcome:
        """Facility meters: rows with their energy intervals (no rule reads them)."""
        site = events[0].site
        self.monitor(site, partition, now_ms)
        max_gap_ms = self.policy(site).stale_after_ms
        return Outcome(facility_rows(self.energy, events, partition, offset, max_gap_ms))

    def work(
        self, events: Sequence[WorkCounter], partition: int, offset: int, now_ms: int
    ) -> Outcome:
        """Work counters: rows with their deltas (no rule reads them)."""
        self.monitor(events[0].site, partition, now_ms)
        return Outcome(work_rows(self.energy, events, partition, offset))

    def link(
        self, events: Sequence[LinkCounters], partition: int, offset: int, now_ms: int
    ) -> Outcome:
        site = events[0].site
        monitor = self.monitor(site, partition, now_ms)
        links, classes = field_column(events, "link"), field_column(events, "link_class")
        peers = field_column(events, "peer_site")
        counters = [field_column(events, name) for name in _LINK_COUNTERS]
        # One map over the columns, then a transpose: no per-sample Python loop body.
        deltas = map(monitor.observe_link, links, classes, peers, *counters[:4])
        d_tx, d_rx, d_dropped, baseline, reset, _late, loss = map(list, zip(*deltas, strict=True))
        n = len(events)
        columns: Columns = [
            [site] * n,
            links,
            list(map(_LINK_CLASS_TEXT.__getitem__, classes)),
            _or_empty(peers),
            *counters,
            d_tx,
            d_rx,
            d_dropped,
            list(map(int, baseline)),
            list(map(int, reset)),
            loss,
            [partition] * n,
            [offset] * n,
        ]
        policy = self.policy(site)
        alerts = monitor.evaluate_links(sorted(set(links)), now_ms, policy)
        return Outcome(columns, alerts)

    # --- the periodic tick ---------------------------------------------------------------
    def tick_sites(self, now_ms: int, sites: Sequence[str]) -> Outcome:
        """The tick of ``sites``: staleness, coverage, the per-site and per-domain series
        rows, and the rules of every scope that runs on the tick (power, link, GPU);
        forgets racks silent past forget_after. The worker ticks a site at a time, so
        that readings are processed between sites (a campus tick is tens of ms)."""
        columns: Columns = [[] for _ in SITE_POWER_COLUMNS]
        domain_columns: Columns = [[] for _ in DOMAIN_POWER_COLUMNS]
        alerts: list[Alert] = []
        forgotten = 0
        for site in sites:
            monitor = self.monitors.get(site)
            if monitor is None:
                continue  # its partition moved away meanwhile
            policy = self.policy(site)
            row, domain_rows, fired = monitor.evaluate_power(now_ms, policy)
            alerts += fired
            alerts += monitor.evaluate_gpus(now_ms, policy)
            if not monitor.warming(now_ms, policy):
                tree, spec = monitor.domain_tree(policy), self.spec_of(site)
                alerts += self.energy.evaluate(site, monitor.alerts, now_ms, policy, tree, spec)
            alerts += monitor.evaluate_link_silence(now_ms, policy)
            for column, value in zip(columns, row.values(), strict=True):
                column.append(value)
            for domain_row in domain_rows:
                for column, value in zip(domain_columns, domain_row.values(), strict=True):
                    column.append(value)
            if monitor.sweep_due(now_ms):
                gone, resolved = monitor.forget(now_ms, policy)
                self.energy.sweep(site, now_ms - policy.forget_after_ms)
                alerts += resolved
                if gone:
                    forgotten += gone
                    logger.info(
                        "site %s: forgot %d racks silent for over %.0f h",
                        site,
                        gone,
                        policy.forget_after_ms / 3_600_000,
                    )
        return Outcome(columns, alerts, domain_columns, forgotten)

    def dirty_alert_states(self) -> dict[str, dict[str, Any]]:
        """Durable alert states of sites whose alerts changed since the last call."""
        return {
            site: monitor.alerts.durable()
            for site, monitor in self.monitors.items()
            if monitor.alerts.dirty
        }


#: the event fields of a GPU row: its columns between the site and the Kafka position
_GPU_FIELDS = GPU_COLUMNS[1 : GPU_COLUMNS.index("kafka_partition")]
_LINK_COUNTERS = ("ts", "tx_packets", "rx_packets", "dropped_packets", "error_packets")
_LINK_CLASS_TEXT = {member: member.value for member in LinkClass}


def _or_empty(values: list[str | None]) -> list[str]:
    """An optional id column as stored: null as the empty string."""
    return [v or "" for v in values] if None in values else values  # type: ignore[return-value]


def _aggregate_gpus(monitor: SiteMonitor, got: dict[str, list[Any]]) -> None:
    """Feed a message's GPU samples to their racks, one ``add`` per run of samples of the
    same rack and instant (agents send a host's or rack's GPUs of a tick together).

    Column-wise: the runs are found by comparing neighbouring (rack, ts) keys, and each
    run's sums and maximum are taken over slices, so Python does per-run work, not
    per-sample work (the per-sample loop cost ~1 us a reading)."""
    racks, stamps = got["rack"], got["ts"]
    util, power = got["util_pct"], got["power_w"]
    reported = got["power_limit_w"]
    # no limit reported: the model's board power, else unknown; reported ones are > 0
    limits = list(map(board_power_w, got["model"], reported)) if None in reported else reported
    keys = list(zip(racks, stamps, strict=True))
    cuts = [0, *compress(range(1, len(keys)), map(ne, keys, islice(keys, 1, None))), len(keys)]
    for a, b in pairwise(cuts):
        known = limits[a:b]
        if None in known:
            known = [w for w in known if w]
        monitor.rack_gpus(racks[a]).add(
            stamps[a],
            b - a,
            sum(util[a:b], 0.0),
            max(0.0, *util[a:b]),
            sum(power[a:b], 0.0),
            sum(known, 0.0),
            b - a - len(known),
        )
