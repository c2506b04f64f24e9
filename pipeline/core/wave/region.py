"""A region's stage: load drops of its sites grouped into fleet incidents, and its
demand-response events measured over the sum of its sites.

Sites of a region live on different workers. Each site stage sends its confirmed drops,
and, while a DR event of its region is under way, its series, to the region's partition
of ``megawatch.regions`` (keyed by region); the worker that owns that partition holds
one :class:`RegionStage` per region:

* drops go into an :class:`pipeline.core.wave.incidents.IncidentBook`; an incident is
  closed once no drop can still join it, on the region's clock (the newest drop's event
  time, advanced by the wall time since it arrived: a backlog read fast groups like
  live data), and ``fleet_load_drop`` is stepped in the region's alert book;
* the sites' series are combined like shards (:class:`pipeline.core.wave.combine.BlockCombiner`,
  the region's sites from the specs expected: a site never heard from leaves the
  region's load unknown, not smaller) and read stride by stride for its DR events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pipeline.core.alert_book import AlertBook
from pipeline.core.policy import SitePolicy
from pipeline.core.rules.fleet_load_drop import FLEET_WAIT, FLEET_WITHIN
from pipeline.core.rules.registry import registry
from pipeline.core.rules.scopes import REGION_DROPS, RegionDrops
from pipeline.core.wave.align import AlignedBlock
from pipeline.core.wave.combine import BlockCombiner
from pipeline.core.wave.demand import DemandBook, DrRuns
from pipeline.core.wave.drops import Drop
from pipeline.core.wave.incidents import Incident, IncidentBook
from pipeline.core.wave.reader import ReadConfig, WaveReader
from pipeline.core.wave.rows import (
    DR_TRACKING_COLUMNS,
    INCIDENT_COLUMNS,
    Columns,
    empty,
    incident_row,
)
from pipeline.core.wave.stage import WaveConfig
from pipeline.events import Alert


@dataclass
class RegionOutput:
    incidents: Columns = field(default_factory=lambda: empty(INCIDENT_COLUMNS))
    dr_rows: Columns = field(default_factory=lambda: empty(DR_TRACKING_COLUMNS))
    alerts: list[Alert] = field(default_factory=list)


class RegionStage:
    def __init__(self, region: str, config: WaveConfig, book: AlertBook) -> None:
        self.region = region
        self.config = config
        self.alerts = book
        self.incidents: IncidentBook | None = None
        self.last_fleet: Incident | None = None
        self.rules = registry().rules_of(REGION_DROPS)
        c = config
        self.combiner = BlockCombiner(c.step_ms, (), c.region_wait_ms, c.hold_ms, c.max_cells)
        self.reader = WaveReader(region, c.step_ms, 0, ReadConfig(stride_ms=c.stride_ms))
        self.dr = DrRuns(f"region {region}")
        self.clock_ms: int | None = None  # the region's event-time clock (see the module)
        self._newest: tuple[int, int] | None = None  # (newest drop's at_ms, its arrival)

    def add_drop(self, drop: Drop, now_ms: int, policy: SitePolicy) -> None:
        if self.incidents is None:
            self.incidents = IncidentBook(policy.ms(FLEET_WITHIN), policy.ms(FLEET_WAIT))
        self.incidents.add(drop)
        if self._newest is None or drop.at_ms >= self._newest[0]:
            self._newest = (drop.at_ms, now_ms)

    def add_series(self, site: str, block: AlignedBlock, now_ms: int) -> int:
        return self.combiner.add(site, block, (), now_ms)

    def tick(
        self,
        now_ms: int,
        policy: SitePolicy,
        demand: DemandBook,
        sites: Sequence[str],
        out: RegionOutput,
    ) -> None:
        self._incidents(now_ms, policy, out)
        events = demand.of_region(self.region)
        if not events:
            return
        self.combiner.expect(sites)
        while True:
            newest = self.combiner.newest_ms
            block = self.combiner.close(now_ms if newest is None else min(now_ms, newest))
            if block is None:
                return
            for stride in self.reader.read(block):
                series = (stride.start_ms, self.config.step_ms, stride.series[0])
                out.alerts += self.dr.push(events, demand, series, self.alerts, policy, out.dr_rows)

    def _incidents(self, now_ms: int, policy: SitePolicy, out: RegionOutput) -> None:
        if self._newest is None or self.incidents is None:
            return
        at, arrived = self._newest
        clock = at + max(0, now_ms - arrived)
        self.clock_ms = clock if self.clock_ms is None else max(self.clock_ms, clock)
        closed = self.incidents.close(self.clock_ms)
        for incident in closed:
            if incident.fleet:
                incident_row(out.incidents, incident)
                self.last_fleet = incident
        subject = RegionDrops(self.region, closed, self.last_fleet)
        for evaluate in self.rules:
            out.alerts += evaluate(self.alerts, subject, self.clock_ms, policy)
