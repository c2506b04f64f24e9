"""Everything a worker knows live about one site; the rules (:mod:`pipeline.core.rules`)
are evaluated on it.

A :class:`SiteMonitor` holds the soft state of a site (latest power per rack, link
counters, GPU samples, the power trend of the site and of each power domain) and its
:class:`AlertBook`, and runs the rules of the registry by scope
(:mod:`pipeline.core.rules.scopes`): it knows what each scope reads, not which rules
there are. It is created when a worker first sees the site after a
(re)assignment and is *warming up* for one staleness window: until every rack has had
the chance to report, a total would be partial, so no cap, forecast, idle or telemetry
alert fires or resolves. Racks and links silent for ``forget_after`` are forgotten.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any

from pipeline.core.alert_book import AlertBook
from pipeline.core.domains import DomainTree
from pipeline.core.forecast import PowerTrend
from pipeline.core.gpu import RackGpus
from pipeline.core.link_health import HealthRow, LinkHealth
from pipeline.core.links import LinkDelta, LinkState
from pipeline.core.policy import CapLimits, RuleConfig, SitePolicy
from pipeline.core.power import Draw, PowerSnapshot, SitePower, Windows
from pipeline.core.rows import DomainRow, SeriesRow
from pipeline.core.rules.common import FORECAST_WINDOW, LOSS_WINDOW, STALE_AFTER
from pipeline.core.rules.link_windows import health_windows
from pipeline.core.rules.registry import registry
from pipeline.core.rules.scopes import (
    LINK_HEALTH,
    LINK_SAMPLES,
    LINK_TICK,
    POWER,
    RACK_GPUS,
    GpuRacks,
    Links,
    PowerSubject,
)
from pipeline.events import Alert, LinkClass


class SiteMonitor:
    def __init__(
        self, site: str, config: RuleConfig, created_ms: int, durable: dict[str, Any] | None
    ) -> None:
        self.site = site
        self.config = config
        self.created_ms = created_ms
        rules = registry()
        # One list per scope, built once: a message runs these, nothing else.
        self.power_rules = rules.rules_of(POWER)
        self.link_rules = rules.rules_of(LINK_SAMPLES)
        self.link_tick_rules = rules.rules_of(LINK_TICK)
        self.link_health_rules = rules.rules_of(LINK_HEALTH)
        self.health_windows = health_windows(config)
        self.gpu_rules = rules.rules_of(RACK_GPUS)
        self.trend_window_ms = config.ms(FORECAST_WINDOW)
        self.power = SitePower(site)
        self.trend = PowerTrend(self.trend_window_ms)
        self.links: dict[str, tuple[LinkState, LinkClass, str | None]] = {}
        self.gpus: dict[str, RackGpus] = {}
        self.alerts = AlertBook(site, durable)
        self.last: PowerSnapshot | None = None
        self.tree: DomainTree | None = None
        self.last_domains: tuple[Draw, ...] = ()  # of the last evaluation with domains
        self.domain_trends: dict[str, PowerTrend] = {}
        self.swept_ms = created_ms

    def warming(self, now_ms: int, policy: SitePolicy) -> bool:
        return now_ms - self.created_ms < policy.stale_after_ms

    # --- power: the cap, forecast and telemetry rules ------------------------------------
    def domain_tree(self, policy: SitePolicy) -> DomainTree | None:
        """The site's domain tree, rebuilt only when the spec's domains change."""
        source = policy.domains
        if source is None or policy.warn_ratio is None:
            self.tree = None  # no spec, no domains
        elif self.tree is None or self.tree.source is not source:
            # Checked here as well: a spec published by other means than `sites apply`.
            self.tree = DomainTree.of_domains(self.site, source, policy.warn_ratio)
            self.domain_trends = {}
        return self.tree

    def evaluate_power(
        self, now_ms: int, policy: SitePolicy, with_domains: bool = True
    ) -> tuple[SeriesRow, list[DomainRow], list[Alert]]:
        """The series rows and the power rules' alerts. Per message only the site's rules
        run (``with_domains=False``: the snapshot's loop stays one addition per fresh
        rack); the tick evaluates the domains too, so their latency is one interval."""
        tree = self.domain_tree(policy) if with_domains else None
        windows = Windows(
            policy.stale_after_ms,
            policy.stale_hold_ms,
            policy.forget_after_ms,
            policy.racks_expected,
        )
        snap = self.power.snapshot(now_ms, windows, tree)
        self.last = snap
        if tree is not None:
            self.last_domains = snap.domains
        warming = self.warming(now_ms, policy)
        draw = snap.draw
        row = SeriesRow(
            site=self.site,
            ts_ms=now_ms,
            total_w=draw.total_w,
            cap_w=policy.cap_w,
            warn_w=policy.warn_w,
            headroom_w=None if policy.cap_w is None else policy.cap_w - draw.total_w,
            racks=draw.racks,
            stale_racks=draw.silent,
            warming=warming,
            region=policy.region,
            reported_w=draw.reported_w,
            estimated_w=draw.estimated_w,
            coverage=_coverage(draw),
            unknown_racks=draw.unknown,
        )
        domain_rows = self._domain_rows(now_ms, snap, warming) if tree is not None else []
        if warming:
            return row, domain_rows, []
        alerts = self._power_rules(now_ms, draw, policy.limits, policy, self.trend)
        if tree is not None:
            for domain, d_draw in zip(tree.domains, snap.domains, strict=True):
                name = domain.limits.domain or ""
                trend = self.domain_trends.get(name)
                if trend is None:
                    trend = self.domain_trends[name] = PowerTrend(self.trend_window_ms)
                alerts += self._power_rules(now_ms, d_draw, domain.limits, policy, trend)
        return row, domain_rows, alerts

    def _power_rules(
        self, now_ms: int, draw: Draw, limits: CapLimits, policy: SitePolicy, trend: PowerTrend
    ) -> list[Alert]:
        """The power rules (cap, forecast, telemetry, ...) of the site or of one domain."""
        trend.add(now_ms, draw.total_w)
        subject = PowerSubject(draw, limits, trend)
        alerts: list[Alert] = []
        for evaluate in self.power_rules:
            alerts += evaluate(self.alerts, subject, now_ms, policy)
        return alerts

    def _domain_rows(self, now_ms: int, snap: PowerSnapshot, warming: bool) -> list[DomainRow]:
        if self.tree is None:
            return []
        return [
            DomainRow(
                site=self.site,
                domain=domain.limits.domain or "",
                ts_ms=now_ms,
                total_w=d.total_w,
                reported_w=d.reported_w,
                estimated_w=d.estimated_w,
                cap_w=domain.limits.cap_w,
                warn_w=domain.limits.warn_w,
                coverage=_coverage(d),
                racks=d.racks,
                stale_racks=d.silent,
                unknown_racks=d.unknown,
                warming=warming,
            )
            for domain, d in zip(self.tree.domains, snap.domains, strict=True)
        ]

    # --- forgetting -------------------------------------------------------------------
    def forget(self, now_ms: int, policy: SitePolicy) -> tuple[int, list[Alert]]:
        """Drop racks (power and GPU state) and links silent for ``forget_after``:
        their memory goes, coverage no longer counts them, and their alerts resolve
        (nothing would ever evaluate them again). Returns (racks forgotten, alerts)."""
        self.swept_ms = now_ms
        cutoff = now_ms - policy.forget_after_ms
        racks = self.power.racks_older_than(cutoff)
        self.power.forget_older_than(cutoff)
        known = set(racks)
        racks += [r for r, g in self.gpus.items() if g.last_ms < cutoff and r not in known]
        for rack in racks:
            self.gpus.pop(rack, None)
        if self.tree is not None:
            self.tree.forget(racks)
        links = [k for k, (s, _, _) in self.links.items() if (s.last_ts or 0) < cutoff]
        for link in links:
            del self.links[link]
        hours = policy.forget_after_ms / 3_600_000
        why = f"forgotten after {hours:g} h without telemetry"
        if not racks and not links:
            return 0, []
        return len(racks), self.alerts.forget_subjects({*racks, *links}, now_ms, why)

    def sweep_due(self, now_ms: int) -> bool:
        """Forgetting is checked on every tick where racks are past forget_after, and
        once a minute for GPU-only racks and links."""
        snap = self.last
        return bool(snap and snap.forgettable) or now_ms - self.swept_ms >= 60_000

    # --- links ----------------------------------------------------------------------
    def observe_link(
        self,
        link: str,
        link_class: LinkClass,
        peer_site: str | None,
        ts_ms: int,
        tx: int,
        rx: int,
        dropped: int,
    ) -> LinkDelta:
        entry = self.links.get(link)
        if entry is None:
            peer = sys.intern(peer_site) if peer_site else None
            entry = (LinkState(self.config.ms(LOSS_WINDOW)), link_class, peer)
            self.links[sys.intern(link)] = entry
        return entry[0].observe(ts_ms, tx, rx, dropped)

    def observe_health(self, link: str, ts_ms: int, sample: Sequence[Any]) -> HealthRow:
        """A sample's link-health fields (after :meth:`observe_link` of the same sample),
        in the order of :data:`pipeline.core.link_health.HEALTH_FIELDS`."""
        state = self.links[link][0]
        if state.health is None:
            state.health = LinkHealth(self.health_windows)
        return state.health.observe(ts_ms, sample)

    def evaluate_links(
        self,
        links: Iterable[str],
        now_ms: int,
        policy: SitePolicy,
        health: Iterable[str] = (),
    ) -> list[Alert]:
        """The link-sample rules (loss) of ``links`` and the link-health rules of
        ``health`` (known links that sent link-health fields), in the order given: once
        per message, each rule looping over the links itself."""
        if self.warming(now_ms, policy):
            return []  # nothing to judge: hold whatever state the alert is in
        out: list[Alert] = []
        for rules, names in ((self.link_rules, links), (self.link_health_rules, health)):
            subject = Links(names, self.links)
            for evaluate in rules:
                out += evaluate(self.alerts, subject, now_ms, policy)
        return out

    def evaluate_link_silence(self, now_ms: int, policy: SitePolicy) -> list[Alert]:
        """Once per tick, the rules of every known link (a link silent past the
        staleness window fires ``link_telemetry_missing``)."""
        if self.warming(now_ms, policy):
            return []
        subject = Links(self.links, self.links)
        out: list[Alert] = []
        for evaluate in self.link_tick_rules:
            out += evaluate(self.alerts, subject, now_ms, policy)
        return out

    def silent_links(self, now_ms: int, policy: SitePolicy) -> list[str]:
        return sorted(
            link for link, (s, _, _) in self.links.items() if _link_silent(s, now_ms, policy)
        )

    # --- GPUs -----------------------------------------------------------------------
    def rack_gpus(self, rack: str) -> RackGpus:
        gpus = self.gpus.get(rack)
        if gpus is None:
            gpus = self.gpus[sys.intern(rack)] = RackGpus(self.config.ms(STALE_AFTER))
        return gpus

    def evaluate_gpus(self, now_ms: int, policy: SitePolicy) -> list[Alert]:
        """Once per tick, the rules of each rack's GPUs (idle power)."""
        if self.warming(now_ms, policy) or not self.gpu_rules:
            return []
        window_ms = policy.stale_after_ms
        subject = GpuRacks([(r, gpus.stats(now_ms, window_ms)) for r, gpus in self.gpus.items()])
        out: list[Alert] = []
        for evaluate in self.gpu_rules:
            out += evaluate(self.alerts, subject, now_ms, policy)
        return out


def _coverage(draw: Draw) -> float:
    coverage = draw.coverage
    return 1.0 if coverage is None else coverage


def _link_silent(state: LinkState, now_ms: int, policy: SitePolicy) -> bool:
    return state.last_ts is not None and now_ms - state.last_ts > policy.stale_after_ms
