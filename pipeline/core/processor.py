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
from typing import Any

from pipeline.core.gpu import board_power_w
from pipeline.core.policy import RuleConfig, SitePolicy
from pipeline.core.rows import LINK_COLUMNS, SITE_POWER_COLUMNS, Columns
from pipeline.core.site import SiteMonitor
from pipeline.events import Alert, GpuSample, LinkCounters, RackPower, SiteSpec

logger = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What one message or tick produced."""

    columns: Columns | None = None
    alerts: list[Alert] = field(default_factory=list)


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
        return SitePolicy.of(site, self.spec_of(site), self.config)

    def revoke(self, partitions: set[int]) -> list[str]:
        """Forget the sites of revoked partitions; they warm up again if they come back."""
        gone = [site for site, p in self.partition_of.items() if p in partitions]
        for site in gone:
            del self.monitors[site]
            del self.partition_of[site]
        return gone

    # --- messages ----------------------------------------------------------------------
    def rack_power(
        self, events: Sequence[RackPower], partition: int, offset: int, now_ms: int
    ) -> Outcome:
        ts = [e.ts for e in events]
        site = events[0].site  # the decoder guarantees one site per message (the key)
        monitor = self.monitor(site, partition, now_ms)
        racks = [e.rack for e in events]
        watts = [e.power_w for e in events]
        monitor.power.update_many(racks, ts, watts)
        _, alerts = monitor.evaluate_power(now_ms, self.policy(site))
        n = len(events)
        columns: Columns = [
            [site] * n,
            racks,
            ts,
            watts,
            [e.pdu or "" for e in events],
            [e.source or "" for e in events],
            [partition] * n,
            [offset] * n,
        ]
        return Outcome(columns, alerts)

    def gpu(self, events: Sequence[GpuSample], partition: int, offset: int, now_ms: int) -> Outcome:
        site = events[0].site
        monitor = self.monitor(site, partition, now_ms)
        ts = [e.ts for e in events]
        _aggregate_gpus(monitor, events)
        n = len(events)
        columns: Columns = [
            [site] * n,
            [e.rack for e in events],
            [e.host for e in events],
            [e.gpu for e in events],
            ts,
            [e.util_pct for e in events],
            [e.power_w for e in events],
            [e.vendor or "" for e in events],
            [e.model or "" for e in events],
            [e.mem_used_pct for e in events],
            [e.temp_c for e in events],
            [e.power_limit_w for e in events],
            [partition] * n,
            [offset] * n,
        ]
        return Outcome(columns)

    def link(
        self, events: Sequence[LinkCounters], partition: int, offset: int, now_ms: int
    ) -> Outcome:
        site = events[0].site
        monitor = self.monitor(site, partition, now_ms)
        columns: Columns = [[] for _ in LINK_COLUMNS]
        touched: set[str] = set()
        for event in events:
            t = event.ts
            counters = (event.tx_packets, event.rx_packets, event.dropped_packets)
            delta = monitor.observe_link(event.link, event.link_class, event.peer_site, t, counters)
            touched.add(event.link)
            row = (
                site,
                event.link,
                event.link_class.value,
                event.peer_site or "",
                t,
                *counters,
                event.error_packets,
                delta.d_tx,
                delta.d_rx,
                delta.d_dropped,
                int(delta.baseline),
                int(delta.reset),
                delta.loss_ratio,
                partition,
                offset,
            )
            for column, value in zip(columns, row, strict=True):
                column.append(value)
        policy = self.policy(site)
        alerts = [
            a for link in sorted(touched) for a in monitor.evaluate_link(link, now_ms, policy)
        ]
        return Outcome(columns, alerts)

    # --- the periodic tick ---------------------------------------------------------------
    def tick(self, now_ms: int) -> Outcome:
        """Staleness, the per-site series row, forecast and idle rules, for every site."""
        columns: Columns = [[] for _ in SITE_POWER_COLUMNS]
        alerts: list[Alert] = []
        for site, monitor in self.monitors.items():
            policy = self.policy(site)
            row, fired = monitor.evaluate_power(now_ms, policy)
            alerts += fired
            alerts += monitor.evaluate_gpus(now_ms, policy)
            for column, value in zip(columns, row.values(), strict=True):
                column.append(value)
        return Outcome(columns, alerts)

    def dirty_alert_states(self) -> dict[str, dict[str, Any]]:
        """Durable alert states of sites whose alerts changed since the last call."""
        return {
            site: monitor.alerts.durable()
            for site, monitor in self.monitors.items()
            if monitor.alerts.dirty
        }


def _aggregate_gpus(monitor: SiteMonitor, events: Sequence[GpuSample]) -> None:
    """Feed a message's GPU samples to their racks, one ``add`` per run of samples of the
    same rack and instant (agents send a host's or rack's GPUs of a tick together), which
    is a few times cheaper than one call per sample."""
    key: tuple[str, int] | None = None
    n = unknown = 0
    util = top = power = limit = 0.0
    for event in events:
        if (event.rack, event.ts) != key:
            if key is not None:
                monitor.rack_gpus(key[0]).add(key[1], n, util, top, power, limit, unknown)
            key, n, unknown = (event.rack, event.ts), 0, 0
            util = top = power = limit = 0.0
        n += 1
        util += event.util_pct
        top = max(top, event.util_pct)
        power += event.power_w
        watts = board_power_w(event.model, event.power_limit_w)
        if watts:
            limit += watts
        else:
            unknown += 1
    if key is not None:
        monitor.rack_gpus(key[0]).add(key[1], n, util, top, power, limit, unknown)
