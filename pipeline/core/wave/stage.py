"""The site stage of ``telemetry.power_wave``: the shards' aligned blocks combined, read
every stride of event time, and judged against the site's limits.

One :class:`WaveStage` per site, on the worker that owns the site's partition of
``megawatch.waves`` (as :class:`pipeline.core.site_stage.SiteStage` for rack power): its
:class:`pipeline.core.wave.combine.BlockCombiner` adds up the blocks of every shard (a
late shard held, then unknown, never zero), its :class:`pipeline.core.wave.reader.WaveReader`
reads each stride, and per stride it

* writes a ``wave_features`` row for the site and each domain,
* runs the rules of the :data:`pipeline.core.rules.scopes.WAVE` scope (ramp,
  oscillation, load drop) in the site's alert book,
* reports load drops (rows, and for the region: :attr:`StageOutput.drops`),
* measures the site's demand-response events (:class:`pipeline.core.wave.demand.DrRuns`),
* and, while an event of its region is under way, hands its series to the region
  (:attr:`StageOutput.series`).

Warm-up: a stage taken on (a new worker, a restart) sees its shards' blocks arrive one
by one, so its first sums may miss a shard. It neither evaluates rules nor reports drops
for its first ``warmup_ms`` of event time (the part wait and one feature window); its
rows are written, with their unknown cells.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.core.alert_book import AlertBook
from pipeline.core.domains import DomainTree
from pipeline.core.policy import SitePolicy
from pipeline.core.rules.load_drop import DROP_RATIO, DROP_SUSTAIN, DROP_WINDOW
from pipeline.core.rules.power_oscillation import limit_bands
from pipeline.core.rules.registry import registry
from pipeline.core.rules.scopes import WAVE, WaveSubject
from pipeline.core.wave.align import AlignedBlock
from pipeline.core.wave.combine import BlockCombiner
from pipeline.core.wave.demand import DemandBook, DrRuns
from pipeline.core.wave.drops import Drop, DropConfig
from pipeline.core.wave.features import DEFAULT_BANDS, FeatureConfig
from pipeline.core.wave.reader import ReadConfig, Stride, WaveReader
from pipeline.core.wave.rows import (
    DR_TRACKING_COLUMNS,
    DROP_COLUMNS,
    FEATURE_COLUMNS,
    Columns,
    drop_row,
    empty,
    feature_rows,
)
from pipeline.core.wave.spectrum import Band
from pipeline.events import Alert

RAMP_LAGS_S = (1.0, 10.0)  # the feature rows' ramp_1s_w and ramp_10s_w


@dataclass(frozen=True, slots=True)
class WaveConfig:
    """How the worker reads power waves (MEGAWATCH_WAVE_*, docs/configuration.md)."""

    step_ms: int = 50
    lateness_ms: int = 2_000
    hold_ms: int = 10_000
    window_s: float = 10.0
    stride_ms: int = 1_000
    part_wait_ms: int = 3_000  # a site stage waits this long for a late shard's block
    region_wait_ms: int = 6_000  # a region waits this long for a late site's series
    max_cells: int = 1_200
    store_samples: bool = False


@dataclass
class StageOutput:
    """What the stages of one tick produced (rows as columns, alerts, and records for
    other workers)."""

    features: Columns = field(default_factory=lambda: empty(FEATURE_COLUMNS))
    drop_rows: Columns = field(default_factory=lambda: empty(DROP_COLUMNS))
    dr_rows: Columns = field(default_factory=lambda: empty(DR_TRACKING_COLUMNS))
    alerts: list[Alert] = field(default_factory=list)
    drops: list[Drop] = field(default_factory=list)  # for their regions
    series: list[tuple[str, AlignedBlock]] = field(default_factory=list)  # (region, block)


class WaveStage:
    def __init__(self, site: str, config: WaveConfig, book: AlertBook) -> None:
        self.site = site
        self.config = config
        self.alerts = book
        c = config
        self.combiner = BlockCombiner(c.step_ms, (), c.part_wait_ms, c.hold_ms, c.max_cells)
        self.reader = WaveReader(site, c.step_ms)
        self.rules = registry().rules_of(WAVE)
        self.domains: tuple[str, ...] = ()
        self.bands: tuple[Band, ...] = DEFAULT_BANDS
        self.last_drop: Drop | None = None
        self.dr = DrRuns(f"site {site}")
        self.warm_from_ms: int | None = None  # rules run on strides ending after this
        self._policy: SitePolicy | None = None

    def configure(self, policy: SitePolicy) -> None:
        """Domains, bands and drop terms from the site's policy (again only when its spec
        changed: a policy lives as long as its spec)."""
        if policy is self._policy:
            return
        self._policy = policy
        self.domains = domain_names(self.site, policy)
        self.combiner.set_domains(self.domains)
        limits = tuple(b for b in limit_bands(policy) if b not in DEFAULT_BANDS)
        self.bands = DEFAULT_BANDS + tuple(dict.fromkeys(limits))
        features = FeatureConfig(self.config.window_s, self.bands, RAMP_LAGS_S)
        drops = DropConfig(policy[DROP_RATIO], policy[DROP_WINDOW], policy[DROP_SUSTAIN])
        read = ReadConfig(features, drops, self.config.stride_ms)
        self.reader.region = policy.region or None
        self.reader.reconfigure(read, len(self.domains))

    def add(self, part: str, block: AlignedBlock, domains: tuple[str, ...], now_ms: int) -> int:
        """A shard's block (``part``: the shard, ``""`` for a plain key); cells dropped."""
        return self.combiner.add(part, block, domains, now_ms)

    def tick(self, now_ms: int, policy: SitePolicy, demand: DemandBook, out: StageOutput) -> None:
        """Close what every shard has delivered (or what waited long enough) and read it."""
        self.configure(policy)
        while True:
            newest = self.combiner.newest_ms
            block = self.combiner.close(now_ms if newest is None else min(now_ms, newest))
            if block is None:
                return
            if self.warm_from_ms is None:
                warmup = self.config.part_wait_ms + int(self.config.window_s * 1000)
                self.warm_from_ms = block.start_ms + warmup
            for stride in self.reader.read(block):
                self._stride(stride, policy, demand, out)
            region = policy.region
            if region and any(
                _overlaps(e.start_ts, e.end_ts, block) for e in demand.of_region(region)
            ):
                out.series.append((region, block))

    def _stride(
        self, stride: Stride, policy: SitePolicy, demand: DemandBook, out: StageOutput
    ) -> None:
        feature_rows(
            out.features,
            self.site,
            policy.region,
            self.domains,
            self.bands,
            stride,
            self.config.stride_ms,
        )
        warm = self.warm_from_ms is not None and stride.end_ms > self.warm_from_ms
        if warm:
            for drop in stride.drops:
                drop_row(out.drop_rows, drop)
                self.last_drop = drop
                if drop.region:
                    out.drops.append(drop)
            subject = WaveSubject(stride, self.domains, self.bands, RAMP_LAGS_S, self.last_drop)
            for evaluate in self.rules:
                out.alerts += evaluate(self.alerts, subject, stride.end_ms, policy)
        series = (stride.start_ms, self.config.step_ms, stride.series[0])
        out.alerts += self.dr.push(
            demand.of_site(self.site),
            demand,
            series,
            self.alerts,
            policy,
            out.dr_rows,
            lambda ended: warm or ended,
        )


def site_tree(site: str, policy: SitePolicy) -> DomainTree | None:
    """The site's checked power tree, or None (no spec, no domains, a broken tree)."""
    if policy.domains is None or policy.warn_ratio is None:
        return None
    return DomainTree.of_domains(site, policy.domains, policy.warn_ratio)


def domain_names(site: str, policy: SitePolicy) -> tuple[str, ...]:
    """The site's power domains in tree order (the rows of its blocks), or none."""
    tree = site_tree(site, policy)
    return () if tree is None else tuple(d.limits.domain or "" for d in tree.domains)


def _overlaps(start_ms: int, end_ms: int, block: AlignedBlock) -> bool:
    return start_ms < block.start_ms + block.step_ms * len(block) and block.start_ms < end_ms
