"""What the worker does with ``telemetry.power_wave``, without Faust: the wave stream's
two stages and its regions.

* **Shard stage**, per message key (``SITE`` or ``SITE/SHARD``): a
  :class:`pipeline.core.wave.align.WaveAligner` of the key's meters, mapped to the
  site's power domains. Per message: the events' ``power_wave`` rows (and the raw samples
  when stored). Per tick: the cells that are due, as one block, to the site stage: in
  process when this worker owns it (always, for a plain key), else encoded for
  ``megawatch.waves`` (:attr:`WaveOutcome.blocks`).
* **Site stage**, per site owned (:class:`pipeline.core.wave.stage.WaveStage`): shards
  combined, features, rules, drops, DR; its drops and DR series for the region go out in
  :attr:`WaveOutcome.regional`.
* **Regions**, per region owned (:class:`pipeline.core.wave.region.RegionStage`).

Cells close on event time, bounded by the clock: an aligner closes up to the lesser of
the clock and its newest sample (less the lateness), so a backlog read faster than real
time is aligned as it was sent, not declared late by the wall clock; a site whose meters
all fall silent is not read until it reports again (its silence is the rack stream's
``telemetry_missing``). Alert states are the site's (or region's) own book, shared with
the rack-power stages (``book_of``), so that a durable key has one dict.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from pipeline.core.alert_book import AlertBook
from pipeline.core.policy import SitePolicy
from pipeline.core.site_key import SiteKey
from pipeline.core.wave.align import AlignConfig, AlignedBlock, WaveAligner, domain_lineage
from pipeline.core.wave.codec import BlockRecord, decode, encode_block, encode_drop
from pipeline.core.wave.demand import BaselineFound, BaselineRequest, DemandBook
from pipeline.core.wave.drops import Drop
from pipeline.core.wave.region import RegionOutput, RegionStage
from pipeline.core.wave.rows import (
    DR_EVENT_COLUMNS,
    POWER_WAVE_COLUMNS,
    SAMPLE_COLUMNS,
    Columns,
    empty,
)
from pipeline.core.wave.stage import StageOutput, WaveConfig, WaveStage, site_tree
from pipeline.events import Alert, DemandResponse, PowerWave

logger = logging.getLogger(__name__)


@dataclass
class WaveOutcome:
    """What one message or tick of the wave stream produced."""

    columns: Columns | None = None  # power_wave rows of a message
    samples: Columns | None = None  # power_wave_samples rows, when stored
    late: int = 0  # samples of the message for cells already closed
    stage: StageOutput = field(default_factory=StageOutput)
    region: RegionOutput = field(default_factory=RegionOutput)
    blocks: list[tuple[str, bytes]] = field(default_factory=list)  # megawatch.waves
    regional: list[tuple[str, bytes]] = field(default_factory=list)  # megawatch.regions
    baselines: list[BaselineRequest] = field(default_factory=list)
    dr_events: Columns = field(default_factory=lambda: empty(DR_EVENT_COLUMNS))

    @property
    def alerts(self) -> list[Alert]:
        return self.stage.alerts + self.region.alerts


class WaveKey:
    """The aligner of one message key, mapped to its site's domains."""

    def __init__(self, site: str, shard: str, config: WaveConfig) -> None:
        self.site = site
        self.shard = shard
        c = config
        self.aligner = WaveAligner(AlignConfig(c.step_ms, c.lateness_ms, c.hold_ms, c.max_cells))
        self.domains: tuple[str, ...] = ()
        self._source: object = None  # the spec's domains it was mapped with

    def map(self, policy: SitePolicy) -> None:
        if policy.domains is self._source:
            return
        self._source = policy.domains
        tree = site_tree(self.site, policy)
        if tree is None:
            self.aligner.relineage(None, 0)
            self.domains = ()
        else:
            self.aligner.relineage(domain_lineage(tree), len(tree))
            self.domains = tuple(d.limits.domain or "" for d in tree.domains)

    def advance(self, now_ms: int) -> AlignedBlock | None:
        newest = self.aligner.newest_ms
        return self.aligner.advance(now_ms if newest is None else min(now_ms, newest))


class WaveProcessor:
    def __init__(
        self,
        config: WaveConfig,
        policy_of: Callable[[str], SitePolicy],
        book_of: Callable[[str, int], AlertBook],
        stage_partition: Callable[[str], int | None] | None = None,
        region_partition: Callable[[str], int | None] | None = None,
        sites_of_region: Callable[[str], list[str]] = lambda region: [],
        region_policy: Callable[[str], SitePolicy] | None = None,
    ) -> None:
        self.config = config
        self.policy_of = policy_of  # site -> its policy (from its spec)
        self.book_of = book_of  # (durable key, partition) -> its alert book
        self.stage_partition = stage_partition or (lambda site: 0)
        self.region_partition = region_partition or (lambda region: 0)
        self.sites_of_region = sites_of_region
        self.region_policy = region_policy or policy_of
        self.keys: dict[str, WaveKey] = {}
        self.stages: dict[str, WaveStage] = {}
        self.regions: dict[str, RegionStage] = {}
        self.demand = DemandBook()
        self._partitions: dict[tuple[str, str], int] = {}  # (kind, name) -> partition

    # --- state ---------------------------------------------------------------------------
    def key(self, key: str, partition: int) -> WaveKey:
        state = self.keys.get(key)
        if state is None:
            parts = SiteKey.of(key)
            state = self.keys[key] = WaveKey(parts.site, parts.shard, self.config)
            self._partitions[("key", key)] = partition
        return state

    def stage(self, site: str, partition: int) -> WaveStage:
        stage = self.stages.get(site)
        if stage is None:
            stage = self.stages[site] = WaveStage(site, self.config, self.book_of(site, partition))
            self._partitions[("stage", site)] = partition
        return stage

    def region(self, region: str, partition: int) -> RegionStage:
        stage = self.regions.get(region)
        if stage is None:
            book = self.book_of(region, partition)
            stage = self.regions[region] = RegionStage(region, self.config, book)
            self._partitions[("region", region)] = partition
        return stage

    def revoke(self, partitions: set[int]) -> list[str]:
        """Forget keys, site stages and regions of revoked partitions; their names."""
        gone = [kn for kn, p in self._partitions.items() if p in partitions]
        for kind, name in gone:
            del self._partitions[(kind, name)]
            if kind == "key":
                self.keys.pop(name, None)
            elif kind == "stage":
                self.stages.pop(name, None)
            else:
                self.regions.pop(name, None)
        return [name for _, name in gone]

    # --- messages --------------------------------------------------------------------------
    def wave(
        self, events: Sequence[PowerWave], partition: int, offset: int, now_ms: int, key: str
    ) -> WaveOutcome:
        """One message's events (one site, the decoder checked it against ``key``)."""
        site = events[0].site
        state = self.key(key or site, partition)
        state.map(self.policy_of(site))
        out = WaveOutcome(columns=empty(POWER_WAVE_COLUMNS))
        columns = out.columns
        assert columns is not None
        aligner = state.aligner
        for event in events:
            w = event.power_w
            if event.meter:
                late = aligner.add(event.meter, event.ts, event.interval_ms, w, event.rack)
            else:
                late = aligner.add(event.rack, event.ts, event.interval_ms, w)
            out.late += late
            row = (
                site,
                state.shard,
                event.rack,
                event.meter or "",
                event.ts,
                event.interval_ms,
                len(w),
                late,
                min(w),
                max(w),
                event.source or "",
                partition,
                offset,
            )
            for column, value in zip(columns, row, strict=True):
                column.append(value)
        if self.config.store_samples:
            out.samples = sample_columns(events, partition, offset)
        return out

    def receive_block(self, raw: bytes | None, partition: int, now_ms: int) -> int:
        """A shard's block from ``megawatch.waves`` for the site stage on ``partition``;
        returns the cells dropped (late or replayed). Raises
        :class:`pipeline.core.wave.codec.WaveRecordError` for a record it cannot read."""
        record = decode(raw)
        if not isinstance(record, BlockRecord):
            raise ValueError("a drop on megawatch.waves")
        return self.stage(record.site, partition).add(
            record.part, record.block, record.domains, now_ms
        )

    def receive_regional(self, raw: bytes | None, partition: int, now_ms: int) -> None:
        """A site's drop or DR series from ``megawatch.regions`` for a region here."""
        record = decode(raw)
        if isinstance(record, Drop):
            if record.region:
                policy = self.region_policy(record.region)
                self.region(record.region, partition).add_drop(record, now_ms, policy)
            return
        if record.region:
            self.region(record.region, partition).add_series(record.site, record.block, now_ms)

    # --- the tick --------------------------------------------------------------------------
    def tick(self, now_ms: int) -> WaveOutcome:
        out = WaveOutcome()
        self.ask_baselines(now_ms, out)
        self.tick_keys(now_ms, list(self.keys), out)
        self.tick_stages(now_ms, list(self.stages), out)
        self.tick_regions(now_ms, out)
        return out

    def tick_keys(self, now_ms: int, keys: Sequence[str], out: WaveOutcome) -> None:
        """Each key's due cells to its site stage (here, or over Kafka)."""
        for name in keys:
            state = self.keys.get(name)
            if state is None:
                continue
            state.map(self.policy_of(state.site))
            while (block := state.advance(now_ms)) is not None:
                partition = self._local_stage(name, state)
                if partition is not None:
                    stage = self.stage(state.site, partition)
                    stage.add(state.shard, block, state.domains, now_ms)
                else:
                    record = BlockRecord(state.site, state.shard, block, state.domains)
                    out.blocks.append((state.site, encode_block(record)))

    def _local_stage(self, name: str, state: WaveKey) -> int | None:
        if not state.shard:
            return self._partitions.get(("key", name))  # a plain key: its stage is here
        return self.stage_partition(state.site)

    def tick_stages(self, now_ms: int, sites: Sequence[str], out: WaveOutcome) -> None:
        for site in sites:
            stage = self.stages.get(site)
            if stage is None:
                continue
            policy = self.policy_of(site)
            before = len(out.stage.drops), len(out.stage.series)
            stage.tick(now_ms, policy, self.demand, out.stage)
            for drop in out.stage.drops[before[0] :]:
                out.regional.append((drop.region or "", encode_drop(drop)))
            for region, block in out.stage.series[before[1] :]:
                record = BlockRecord(site, site, site_only(block), (), region)
                out.regional.append((region, encode_block(record)))

    def tick_regions(self, now_ms: int, out: WaveOutcome) -> None:
        for region in {e.region for e in self.demand.events.values() if e.region}:
            partition = self.region_partition(region)
            if partition is not None:
                self.region(region, partition)  # measured here: the stage must exist
        for region, stage in list(self.regions.items()):
            sites = self.sites_of_region(region)
            stage.tick(now_ms, self.region_policy(region), self.demand, sites, out.region)

    def ask_baselines(self, now_ms: int, out: WaveOutcome) -> None:
        """Baselines to load for the events measured here (their site stage's or their
        region's partition is this worker's), ahead of their start."""
        for spec in list(self.demand.events.values()):
            if spec.site is not None:
                here, sites = self.stage_partition(spec.site), [spec.site]
            else:
                assert spec.region is not None
                here, sites = self.region_partition(spec.region), self.sites_of_region(spec.region)
            if here is None or not sites:
                continue
            request = self.demand.wanted(spec, sites, now_ms)
            if request is not None:
                out.baselines.append(request)
            found = self.demand.baselines.get(spec.id)
            if spec.id in self.demand.changed and found is not None:
                row = dr_event_columns(spec, found, sites)  # its new end, cancelled
                for column, values in zip(out.dr_events, row, strict=True):
                    column.extend(values)
        self.demand.changed.clear()

    # --- demand response -------------------------------------------------------------------
    def set_baseline(self, request: BaselineRequest, found: BaselineFound) -> Columns:
        """The baseline the edge loaded; the event's ``dr_events`` row."""
        self.demand.set_baseline(request.event.id, found)
        return dr_event_columns(request.event, found, request.sites)


def site_only(block: AlignedBlock) -> AlignedBlock:
    """The block without its domain rows (what a region needs of a site)."""
    n = len(block)
    return AlignedBlock(
        block.start_ms,
        block.step_ms,
        block.total_w,
        block.held_w,
        block.measured,
        block.held,
        block.unknown,
        np.zeros((0, n)),
        np.zeros((0, n)),
        np.zeros((0, n), np.int64),
        block.samples,
        block.late,
    )


def sample_columns(events: Sequence[PowerWave], partition: int, offset: int) -> Columns:
    out = empty(SAMPLE_COLUMNS)
    for event in events:
        row = (
            event.site,
            event.rack,
            event.meter or "",
            event.ts,
            event.interval_ms,
            event.power_w,
            partition,
            offset,
        )
        for column, value in zip(out, row, strict=True):
            column.append(value)
    return out


def dr_event_columns(spec: DemandResponse, found: BaselineFound, sites: Sequence[str]) -> Columns:
    out = empty(DR_EVENT_COLUMNS)
    row = (
        spec.id,
        spec.scope,
        int(spec.region is not None),
        spec.start_ts,
        spec.end_ts,
        spec.ceiling_mw,
        spec.reduction_pct,
        spec.program or "",
        int(spec.cancelled),
        found.method if found.found else f"none: {found.why}",
        list(found.days),
        found.mean_mw,
        list(sites),
    )
    for column, value in zip(out, row, strict=True):
        column.append(value)
    return out
