"""Everything a worker knows live about one site, and the rules evaluated on it.

A :class:`SiteMonitor` holds the soft state of a site (latest power per rack, link
counters, GPU samples, the power trend) and its :class:`AlertBook`. It is created when a
worker first sees the site after a (re)assignment and is *warming up* for one staleness
window: until every rack has had the chance to report, a total would be partial, so no
cap, forecast or idle alert fires or resolves.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from pipeline.core.alerting import AlertBook, AlertKey
from pipeline.core.config import RuleConfig, SitePolicy
from pipeline.core.forecast import PowerTrend
from pipeline.core.gpu import RackGpus, RackGpuStats
from pipeline.core.links import LinkDelta, LinkState
from pipeline.core.power import PowerSnapshot, SitePower
from pipeline.core.texts import cap_facts, forecast_facts, idle_facts, loss_facts
from pipeline.events import Alert, LinkClass, Severity


@dataclass(frozen=True, slots=True)
class SeriesRow:
    """One point of the per-site power series (table site_power)."""

    site: str
    ts_ms: int
    total_w: float
    cap_w: float | None
    warn_w: float | None
    headroom_w: float | None
    racks: int
    stale_racks: int
    warming: bool
    region: str


class SiteMonitor:
    def __init__(
        self, site: str, config: RuleConfig, created_ms: int, durable: dict[str, Any] | None
    ) -> None:
        self.site = site
        self.config = config
        self.created_ms = created_ms
        self.power = SitePower(site)
        self.trend = PowerTrend(config.forecast_window_ms)
        self.links: dict[str, tuple[LinkState, LinkClass, str | None]] = {}
        self.gpus: dict[str, RackGpus] = {}
        self.alerts = AlertBook(site, durable)
        self.last: PowerSnapshot | None = None

    def warming(self, now_ms: int, policy: SitePolicy) -> bool:
        return now_ms - self.created_ms < policy.stale_after_ms

    # --- power and cap rules --------------------------------------------------------
    def evaluate_power(self, now_ms: int, policy: SitePolicy) -> tuple[SeriesRow, list[Alert]]:
        snap = self.power.snapshot(now_ms, policy.stale_after_ms)
        self.last = snap
        warming = self.warming(now_ms, policy)
        row = SeriesRow(
            site=self.site,
            ts_ms=now_ms,
            total_w=snap.total_w,
            cap_w=policy.cap_w,
            warn_w=policy.warn_w,
            headroom_w=None if policy.cap_w is None else policy.cap_w - snap.total_w,
            racks=snap.racks,
            stale_racks=snap.stale_racks,
            warming=warming,
            region=policy.region,
        )
        if warming:
            return row, []
        self.trend.add(now_ms, snap.total_w)
        alerts = [a for a in self._cap_alerts(snap, now_ms, policy) if a is not None]
        return row, alerts

    def _cap_alerts(
        self, snap: PowerSnapshot, now_ms: int, policy: SitePolicy
    ) -> Iterable[Alert | None]:
        total, timing, margin = snap.total_w, self.config.cap_timing, self.config.hysteresis
        for rule, severity, limit in (
            ("cap_warning", Severity.warning, policy.warn_w),
            ("cap_critical", Severity.critical, policy.cap_w),
        ):
            breached = limit is not None and total >= limit
            cleared = limit is None or total < limit * (1 - margin)
            yield self.alerts.evaluate(
                AlertKey(rule, severity),
                breached,
                cleared,
                now_ms,
                timing,
                partial(cap_facts, self.site, rule, total, limit, policy, snap),
            )
        yield self._forecast_alert(total, now_ms, policy)

    def _forecast_alert(self, total: float, now_ms: int, policy: SitePolicy) -> Alert | None:
        horizon = self.config.forecast_horizon_ms
        projection = None if policy.cap_w is None else self.trend.project(policy.cap_w)
        reach = projection.reach_ms if projection else None
        under_cap = policy.cap_w is not None and total < policy.cap_w
        breached = under_cap and reach is not None and reach - now_ms <= horizon
        cleared = not under_cap or reach is None or reach - now_ms > horizon * 1.1
        return self.alerts.evaluate(
            AlertKey("cap_forecast", Severity.warning),
            breached,
            cleared,
            now_ms,
            self.config.cap_timing,
            partial(forecast_facts, self.site, total, reach, now_ms, horizon, policy, projection),
        )

    # --- links ----------------------------------------------------------------------
    def observe_link(
        self,
        link: str,
        link_class: LinkClass,
        peer_site: str | None,
        ts_ms: int,
        counters: tuple[int, int, int],
    ) -> LinkDelta:
        entry = self.links.get(link)
        if entry is None:
            peer = sys.intern(peer_site) if peer_site else None
            entry = (LinkState(self.config.loss_window_ms), link_class, peer)
            self.links[sys.intern(link)] = entry
        return entry[0].observe(ts_ms, *counters)

    def evaluate_link(self, link: str, now_ms: int, policy: SitePolicy) -> list[Alert]:
        state, link_class, peer = self.links[link]
        loss = state.loss()
        too_little = loss is None or state.window_tx < self.config.loss_min_tx
        if too_little or self.warming(now_ms, policy):
            return []  # nothing to judge: hold whatever state the alert is in
        assert loss is not None
        out = []
        describe = partial(loss_facts, self.site, link, link_class, peer, loss)
        for severity, threshold in policy.loss_thresholds(link_class):
            alert = self.alerts.evaluate(
                AlertKey(f"link_loss_{link_class.value}", severity, link=link, peer_site=peer),
                loss >= threshold,
                loss < threshold * (1 - self.config.hysteresis),
                now_ms,
                self.config.loss_timing,
                partial(describe, threshold, self.config),
            )
            if alert is not None:
                out.append(alert)
        return out

    # --- GPUs -----------------------------------------------------------------------
    def rack_gpus(self, rack: str) -> RackGpus:
        gpus = self.gpus.get(rack)
        if gpus is None:
            gpus = self.gpus[sys.intern(rack)] = RackGpus(self.config.stale_after_ms)
        return gpus

    def evaluate_gpus(self, now_ms: int, policy: SitePolicy) -> list[Alert]:
        if self.warming(now_ms, policy):
            return []
        out = []
        for rack, gpus in self.gpus.items():
            stats = gpus.stats(now_ms, policy.stale_after_ms)
            alert = self._idle_alert(rack, stats, now_ms)
            if alert is not None:
                out.append(alert)
        return out

    def _idle_alert(self, rack: str, stats: RackGpuStats, now_ms: int) -> Alert | None:
        share = stats.power_share
        if stats.samples == 0 or share is None:
            return None
        limit = self.config.idle_share
        breached = stats.idle and share > limit
        return self.alerts.evaluate(
            AlertKey("idle_power", Severity.info, rack=rack),
            breached,
            not breached,
            now_ms,
            self.config.idle_timing,
            partial(idle_facts, self.site, rack, stats, limit),
        )
