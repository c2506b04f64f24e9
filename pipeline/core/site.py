"""Everything a worker knows live about the racks, GPUs and links of one message key; the
rules (:mod:`pipeline.core.rules`) are evaluated on it.

A :class:`SiteMonitor` holds the soft state of one key (``SITE``, or one shard
``SITE/SHARD`` of a site spread over partitions: :mod:`pipeline.core.site_key`): latest
power per rack, link counters, GPU samples, the energy integration of its GPUs, racks and
meters (:class:`pipeline.core.energy.book.SiteEnergy`), and the :class:`AlertBook` of
that key. It runs the rules of the registry by scope (:mod:`pipeline.core.rules.scopes`)
that are local to its racks and links (link loss and silence, idle GPUs; priority
inversion on its own GPUs), and sums its racks' power into a
:class:`pipeline.core.partial.Partial` for the site stage
(:class:`pipeline.core.site_stage.SiteStage`), which runs the site's and its domains'
power rules. For a plain ``SITE`` key the site stage lives beside it, in the same worker
(same key, same partition), and shares its alert book; :meth:`SiteMonitor.evaluate_power`
is that one-shard case in one call.

A monitor is created when a worker first sees the key after a (re)assignment and is
*warming up* for one staleness window: until every rack has had the chance to report, its
sums may miss racks, so its partials say so and the site stage holds its rules (no cap,
forecast, idle or telemetry alert fires or resolves). Racks and links silent for
``forget_after`` are forgotten.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any

from pipeline.core.alert_book import AlertBook
from pipeline.core.domains import DomainTree
from pipeline.core.energy.book import EnergyBook, SiteEnergy
from pipeline.core.gpu import RackGpus
from pipeline.core.link_health import HealthRow, LinkHealth
from pipeline.core.links import LinkDelta, LinkState
from pipeline.core.partial import Partial, is_empty
from pipeline.core.policy import RuleConfig, SitePolicy
from pipeline.core.power import PowerSnapshot, SitePower, Sums, Windows
from pipeline.core.rows import DomainRow, SeriesRow
from pipeline.core.rules.common import LOSS_WINDOW, STALE_AFTER
from pipeline.core.rules.link_windows import health_windows
from pipeline.core.rules.registry import registry
from pipeline.core.rules.scopes import (
    LINK_HEALTH,
    LINK_SAMPLES,
    LINK_TICK,
    RACK_GPUS,
    GpuRacks,
    Links,
)
from pipeline.core.site_stage import SiteStage
from pipeline.events import Alert, LinkClass, SiteSpec


class SiteMonitor:
    def __init__(
        self,
        site: str,
        config: RuleConfig,
        created_ms: int,
        durable: dict[str, Any] | None,
        *,
        shard: str = "",
        book: AlertBook | None = None,
        stage: SiteStage | None = None,
    ) -> None:
        self.site = site
        self.shard = shard
        self.config = config
        self.created_ms = created_ms
        self.epoch = created_ms  # of its partials: a later owner's win over this one's
        rules = registry()
        # One list per scope, built once: a message runs these, nothing else.
        self.link_rules = rules.rules_of(LINK_SAMPLES)
        self.link_tick_rules = rules.rules_of(LINK_TICK)
        self.link_health_rules = rules.rules_of(LINK_HEALTH)
        self.health_windows = health_windows(config)
        self.gpu_rules = rules.rules_of(RACK_GPUS)
        self.power = SitePower(site)
        self.links: dict[str, tuple[LinkState, LinkClass, str | None]] = {}
        self.gpus: dict[str, RackGpus] = {}
        self.energy = SiteEnergy()  # integration state: goes with the key's partition
        self.alerts = book if book is not None else AlertBook(site, durable)
        #: the site stage of a plain SITE key (same key, same worker); None for a shard
        self.stage = stage
        self.last: PowerSnapshot | None = None
        self.tree: DomainTree | None = None
        self.swept_ms = created_ms
        self.seq = 0  # partials made in this epoch
        #: when its last partial went over Kafka (a site stage on another worker)
        self.sent_ms: int | None = None

    @property
    def key(self) -> str:
        """The message key this monitor is the state of."""
        return f"{self.site}/{self.shard}" if self.shard else self.site

    def warming(self, now_ms: int, policy: SitePolicy) -> bool:
        return now_ms - self.created_ms < policy.stale_after_ms

    # --- power: the partial for the site stage ------------------------------------------
    def domain_tree(self, policy: SitePolicy) -> DomainTree | None:
        """The site's domain tree (which leaf each rack is in), rebuilt only when the
        spec's domains change."""
        source = policy.domains
        if source is None or policy.warn_ratio is None:
            self.tree = None  # no spec, no domains
        elif self.tree is None or self.tree.source is not source:
            # Checked here as well: a spec published by other means than `sites apply`.
            self.tree = DomainTree.of_domains(self.site, source, policy.warn_ratio)
        return self.tree

    def partial(self, now_ms: int, policy: SitePolicy, with_leaves: bool = True) -> Partial:
        """This key's power as sums for the site stage. Per message only the totals
        (``with_leaves=False``: the snapshot's loop stays one addition per fresh rack);
        the tick sends the sums per leaf domain too."""
        tree = self.domain_tree(policy) if with_leaves else None
        windows = Windows(policy.stale_after_ms, policy.stale_hold_ms, policy.forget_after_ms)
        snap = self.last = self.power.snapshot(now_ms, windows, tree)
        draw = snap.draw
        since = draw.silent_since_ms
        total: Sums = (
            draw.reported_w,
            draw.estimated_w,
            draw.fresh,
            draw.held,
            draw.unknown,
            -1 if since is None else since,
        )
        leaves: tuple[tuple[str, Sums], ...] | None = None
        if with_leaves:
            leaves = _leaves(tree, snap.slots) if tree is not None else ()
        self.seq += 1
        return Partial(
            self.site,
            self.shard,
            self.epoch,
            self.seq,
            now_ms,
            self.warming(now_ms, policy),
            snap.newest_ms,
            total,
            leaves,
            snap.stale_names,
        )

    def evaluate_power(
        self, now_ms: int, policy: SitePolicy
    ) -> tuple[SeriesRow, list[DomainRow], list[Alert]]:
        """The one-shard case in one call, as the tick runs it: this key's partial,
        combined by its own site stage; the series rows and the power rules' alerts."""
        stage = self.stage
        if stage is None:
            stage = self.stage = SiteStage(self.site, self.config, self.created_ms, self.alerts)
        stage.receive(self.partial(now_ms, policy))
        return stage.evaluate(now_ms, policy)

    # --- forgetting -------------------------------------------------------------------
    def forget(self, now_ms: int, policy: SitePolicy) -> tuple[int, list[Alert]]:
        """Drop racks (power and GPU state), links and energy entities silent for
        ``forget_after``: their memory goes, coverage no longer counts them, and their
        alerts resolve (nothing would ever evaluate them again). Returns (racks
        forgotten, alerts)."""
        self.swept_ms = now_ms
        cutoff = now_ms - policy.forget_after_ms
        self.energy.sweep(cutoff)
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

    def evaluate_priorities(
        self, now_ms: int, policy: SitePolicy, energy: EnergyBook, spec: SiteSpec | None
    ) -> list[Alert]:
        """Once per tick, the rules of each power domain's GPUs by priority class
        (``priority_inversion``), on this key's GPUs: a shard's share of its domains."""
        if self.warming(now_ms, policy):
            return []
        tree = self.domain_tree(policy)
        return energy.evaluate(self.energy, self.alerts, now_ms, policy, tree, spec, self.shard)


def _leaves(tree: DomainTree, slots: tuple[Sums, ...]) -> tuple[tuple[str, Sums], ...]:
    """The slots of a snapshot with a tree, by leaf name (``""``: racks of no leaf);
    leaves without a rack of this key left out."""
    domains = tree.domains
    out = [
        (domains[i].limits.domain or "", slots[i])
        for i in range(len(domains))
        if domains[i].leaf and not is_empty(slots[i])
    ]
    if not is_empty(slots[-1]):
        out.append(("", slots[-1]))
    return tuple(out)


def _link_silent(state: LinkState, now_ms: int, policy: SitePolicy) -> bool:
    return state.last_ts is not None and now_ms - state.last_ts > policy.stale_after_ms
