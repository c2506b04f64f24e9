"""Everything a worker knows live about one site; the rules (:mod:`pipeline.core.rules`)
are evaluated on it.

A :class:`SiteMonitor` holds the soft state of a site (latest power per rack, link
counters, GPU samples, the power trend) and its :class:`AlertBook`. It is created when a
worker first sees the site after a (re)assignment and is *warming up* for one staleness
window: until every rack has had the chance to report, a total would be partial, so no
cap, forecast or idle alert fires or resolves.
"""

from __future__ import annotations

import sys
from typing import Any

from pipeline.core.alert_book import AlertBook
from pipeline.core.forecast import PowerTrend
from pipeline.core.gpu import RackGpus
from pipeline.core.links import LinkDelta, LinkState
from pipeline.core.policy import RuleConfig, SitePolicy
from pipeline.core.power import PowerSnapshot, SitePower
from pipeline.core.rows import SeriesRow
from pipeline.core.rules.cap import evaluate_cap
from pipeline.core.rules.cap_forecast import evaluate_forecast
from pipeline.core.rules.idle import evaluate_idle
from pipeline.core.rules.loss import evaluate_loss
from pipeline.events import Alert, LinkClass


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

    # --- power: the cap and forecast rules --------------------------------------------------------
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
        alerts = evaluate_cap(self.alerts, snap, now_ms, policy, self.config)
        forecast = evaluate_forecast(
            self.alerts, self.trend, snap.total_w, now_ms, policy, self.config
        )
        if forecast is not None:
            alerts.append(forecast)
        return row, alerts

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
        if self.warming(now_ms, policy):
            return []  # nothing to judge: hold whatever state the alert is in
        state, link_class, peer = self.links[link]
        return evaluate_loss(
            self.alerts, link, link_class, peer, state, now_ms, policy, self.config
        )

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
            alert = evaluate_idle(self.alerts, rack, stats, now_ms, self.config)
            if alert is not None:
                out.append(alert)
        return out
