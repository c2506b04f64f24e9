"""The site stage: the newest partial of every shard of one site, combined, and the power
rules of the site and of its power domains.

A site is spread over shards (message keys ``SITE/SHARD``; a plain ``SITE`` key is the
one-shard case). Each shard's owner keeps its racks and sends :class:`Partial` sums
(:mod:`pipeline.core.partial`); one :class:`SiteStage` per site, on the worker that owns
the site's own partition, adds them up and runs the rules of the registry's ``POWER``
scope (caps, forecast, ``telemetry_missing``) for the site and every domain: a domain may
span shards, so every domain cap is evaluated here, from the leaves' sums of all shards.

A shard whose partial is late is a silent rack one level up: past the staleness window
its racks count at the partial's last values as *estimated* for the hold time, then as
*unknown* (never zero), so no cap alert resolves on it (the cap rules resolve on complete
data only) and coverage falls (``telemetry_missing``). ``racks_expected`` and
``shards_expected`` of the spec make a never-seen shard count: its racks are missing,
estimated as many as the average shard seen has.

Warm-up holds here too: for one staleness window after the stage is created (every
shard's next partial is due within it), and while any shard's owner is warming up (its
sums may miss racks), the rules neither fire nor resolve anything.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from pipeline.core.alert_book import AlertBook
from pipeline.core.domains import DomainTree
from pipeline.core.forecast import PowerTrend
from pipeline.core.partial import Partial
from pipeline.core.policy import CapLimits, RuleConfig, SitePolicy
from pipeline.core.power import MAX_STALE_NAMED, NO_SUMS, Draw, Sums, add_sums, draw_of, roll_up
from pipeline.core.rows import DomainRow, SeriesRow
from pipeline.core.rules.common import FORECAST_WINDOW
from pipeline.core.rules.registry import registry
from pipeline.core.rules.scopes import POWER, PowerSubject
from pipeline.events import Alert


class SiteStage:
    def __init__(self, site: str, config: RuleConfig, created_ms: int, book: AlertBook) -> None:
        self.site = site
        self.created_ms = created_ms
        self.alerts = book
        self.power_rules = registry().rules_of(POWER)
        self.trend_window_ms = config.ms(FORECAST_WINDOW)
        self.trend = PowerTrend(self.trend_window_ms)
        self.domain_trends: dict[str, PowerTrend] = {}
        self.tree: DomainTree | None = None
        self.partials: dict[str, Partial] = {}  # shard -> its newest partial
        self.leaves: dict[str, Partial] = {}  # shard -> its newest partial with leaves
        self.last: Draw | None = None  # the site, at the last evaluation
        self.last_domains: tuple[Draw, ...] = ()  # of the last evaluation with domains
        self.ignored = 0  # partials older than one already held (replays): counted

    # --- partials -----------------------------------------------------------------------
    def receive(self, partial: Partial) -> bool:
        """Hold ``partial`` if it is the newest of its shard; False (nothing changed) for a
        replayed or older one."""
        shard = partial.shard
        held = self.partials.get(shard)
        newer = held is None or partial.order > held.order
        if partial.leaves is not None:
            with_leaves = self.leaves.get(shard)
            if with_leaves is None or partial.order > with_leaves.order:
                self.leaves[shard] = partial
                newer = True
        if held is None or partial.order > held.order:
            self.partials[shard] = partial
        if not newer:
            self.ignored += 1
        return newer

    def late_shards(self, now_ms: int, policy: SitePolicy) -> list[str]:
        return sorted(s for s, p in self.partials.items() if _late(p, now_ms, policy))

    def forget(self, now_ms: int, policy: SitePolicy) -> list[str]:
        """Drop shards whose newest partial is older than ``forget_after`` (a shard that
        is gone: renamed, decommissioned); returns their names."""
        cutoff = now_ms - policy.forget_after_ms
        gone = [s for s, p in self.partials.items() if p.at_ms < cutoff]
        for shard in gone:
            del self.partials[shard]
            self.leaves.pop(shard, None)
        return gone

    def warming(self, now_ms: int, policy: SitePolicy) -> bool:
        """Young (one staleness window), or a shard's owner warming up."""
        if now_ms - self.created_ms < policy.stale_after_ms:
            return True
        fresh_after = now_ms - policy.stale_after_ms
        return any(p.warming and p.at_ms >= fresh_after for p in self.partials.values())

    # --- combining ------------------------------------------------------------------------
    def draw(self, now_ms: int, policy: SitePolicy) -> Draw:
        """The site's power: every shard's newest totals, aged, added up."""
        acc: list[float | int] = list(NO_SUMS)
        late: list[str] = []
        for shard, partial in self.partials.items():
            sums = aged(partial.total, partial, now_ms, policy)
            if sums is not partial.total:
                late.append(shard)
            add_sums(acc, sums)
        racks = int(acc[2]) + int(acc[3]) + int(acc[4])
        seen = len(self.partials)
        missing = max(0, policy.shards_expected - seen)
        expected = policy.racks_expected
        if missing and seen:
            # a never-seen shard has as many racks as the average shard seen
            expected = max(expected, math.ceil(racks * policy.shards_expected / seen))
        base = draw_of(acc, expected)
        if not missing and not late:
            return base
        return Draw(
            base.reported_w,
            base.estimated_w,
            base.racks,
            base.held,
            base.unknown,
            base.expected,
            base.silent_since_ms,
            missing,
            policy.shards_expected,
            tuple(sorted(late)),
        )

    def domain_draws(self, now_ms: int, policy: SitePolicy, tree: DomainTree) -> tuple[Draw, ...]:
        """Each domain's power: the leaves of every shard added up by name (racks of a leaf
        the tree does not know count as racks of no leaf), then rolled up the tree."""
        n = len(tree.domains)
        slots: list[list[float | int]] = [list(NO_SUMS) for _ in range(n + 1)]
        index = tree.leaf_index
        for partial in self.leaves.values():
            for name, sums in partial.leaves or ():
                slot = index.get(name, n) if name else n
                add_sums(slots[slot], aged(sums, partial, now_ms, policy))
        frozen: list[Sums] = [tuple(slot) for slot in slots]  # type: ignore[misc]
        return roll_up(tree, frozen, policy.racks_expected)[1]

    def domain_tree(self, policy: SitePolicy) -> DomainTree | None:
        """The site's domain tree, rebuilt only when the spec's domains change."""
        source = policy.domains
        if source is None or policy.warn_ratio is None:
            self.tree = None
        elif self.tree is None or self.tree.source is not source:
            self.tree = DomainTree.of_domains(self.site, source, policy.warn_ratio)
            self.domain_trends = {}
        return self.tree

    # --- the rules ----------------------------------------------------------------------
    def evaluate_site(self, now_ms: int, policy: SitePolicy) -> list[Alert]:
        """The site's power rules only: after each partial (a shard's message), so that
        a site's cap alert waits for no tick."""
        draw = self.last = self.draw(now_ms, policy)
        if self.warming(now_ms, policy):
            return []
        return self._power_rules(now_ms, draw, policy.limits, policy, self.trend)

    def evaluate(
        self, now_ms: int, policy: SitePolicy
    ) -> tuple[SeriesRow, list[DomainRow], list[Alert]]:
        """The tick: the site's and every domain's series rows and power rules."""
        draw = self.last = self.draw(now_ms, policy)
        tree = self.domain_tree(policy)
        domains = self.domain_draws(now_ms, policy, tree) if tree is not None else ()
        self.last_domains = domains
        warming = self.warming(now_ms, policy)
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
            coverage=coverage_of(draw),
            unknown_racks=draw.unknown,
        )
        domain_rows = self._domain_rows(now_ms, tree, domains, warming)
        if warming:
            return row, domain_rows, []
        alerts = self._power_rules(now_ms, draw, policy.limits, policy, self.trend)
        for domain, d_draw in zip(tree.domains if tree else (), domains, strict=True):
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

    def _domain_rows(
        self, now_ms: int, tree: DomainTree | None, draws: Iterable[Draw], warming: bool
    ) -> list[DomainRow]:
        if tree is None:
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
                coverage=coverage_of(d),
                racks=d.racks,
                stale_racks=d.silent,
                unknown_racks=d.unknown,
                warming=warming,
            )
            for domain, d in zip(tree.domains, draws, strict=True)
        ]

    # --- for the live view ----------------------------------------------------------------
    def stale_names(self) -> list[str]:
        names = sorted({name for p in self.partials.values() for name in p.stale})
        return names[:MAX_STALE_NAMED]

    def newest_ms(self) -> int | None:
        stamps = [p.newest_ms for p in self.partials.values() if p.newest_ms is not None]
        return max(stamps, default=None)


def aged(sums: Sums, partial: Partial, now_ms: int, policy: SitePolicy) -> Sums:
    """``sums`` of ``partial`` as they count at ``now_ms``: as sent while the partial is
    within the staleness window; then, a silent rack one level up, every rack of it held
    at its last power (estimated) for the hold time, then unknown. The same object when
    nothing changed (the common case: no copy)."""
    age = now_ms - partial.at_ms
    if age <= policy.stale_after_ms:
        return sums
    reported, estimated, fresh, held, unknown, since = sums
    last = partial.newest_ms if partial.newest_ms is not None else partial.at_ms
    since = last if since < 0 else min(since, last)
    if age <= policy.stale_after_ms + policy.stale_hold_ms:
        return (0.0, reported + estimated, 0, fresh + held, unknown, since)
    return (0.0, 0.0, 0, 0, fresh + held + unknown, since)


def _late(partial: Partial, now_ms: int, policy: SitePolicy) -> bool:
    return now_ms - partial.at_ms > policy.stale_after_ms


def coverage_of(draw: Draw) -> float:
    """A draw's coverage as stored: 1.0 when there is nothing to cover."""
    coverage = draw.coverage
    return 1.0 if coverage is None else coverage


__all__ = ["SiteStage", "aged", "coverage_of"]
