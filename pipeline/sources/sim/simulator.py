"""The fleet simulator (``megawatch agent --source sim``) and its :class:`SimSource`.

Deterministic: the same fleet, scenarios, seed, start time and interval give the same
readings, tick for tick. Each site draws from its own random stream, seeded from the
seed and the site's name, so restricting an agent to some sites (``--site``) does not
change what those sites report.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.sources.base import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_MESSAGE_BYTES,
    OutMessage,
    Tick,
    encode_batches,
)
from pipeline.sources.sim.chaos import ChaosInjector
from pipeline.sources.sim.fleet import Fleet
from pipeline.sources.sim.link_model import SiteLinks
from pipeline.sources.sim.scenarios import ScenarioPlan, plan_scenarios
from pipeline.sources.sim.site_model import SitePower, SiteReadings

logger = logging.getLogger(__name__)

SILENCE_S = (60.0, 600.0)  # natural silences: a PDU meter or agent restarting


@dataclass(frozen=True)
class SimOptions:
    seed: int = 0
    interval_s: float = 1.0
    start_ms: int | None = None  # None: now, at construction
    gpu_every: int = 1  # each host reports its GPUs every N ticks (staggered)


class SiteSimulator:
    """Power, links, silences and chaos of one site."""

    def __init__(self, fleet: Fleet, site: str, plan: ScenarioPlan, seed: int) -> None:
        spec, sim = fleet.spec(site), fleet.simulation[site]
        streams = np.random.SeedSequence([seed, zlib.crc32(site.encode())]).spawn(4)
        self.site = site
        self.plan = plan
        self.power = SitePower(spec, sim, plan, np.random.default_rng(streams[0]))
        lay = self.power.layout
        self.links = SiteLinks(
            site,
            lay.rack_ids,
            fleet.peers(site),
            sim.fabric_pps,
            sim.wan_pps,
            plan,
            np.random.default_rng(streams[1]),
        )
        self.silence_rng = np.random.default_rng(streams[2])
        self.chaos = ChaosInjector(plan.bad_prob, np.random.default_rng(streams[3]))
        self.silent_until = np.zeros(lay.n_racks)
        self.max_w = float(lay.rack_max_w.sum())
        #: a site of several halls keys by hall (or row): the shard of each rack and
        #: link (WAN links report from the first); empty for a site keyed by site
        self.shard_of: dict[str, str] = dict(zip(lay.rack_ids, lay.rack_shard, strict=False))
        self.shard_of |= {f"fab-{r}": shard for r, shard in self.shard_of.items()}
        self.first_shard = lay.rack_shard[0] if lay.rack_shard else ""

    def by_shard(
        self, kind: str, events: list[dict[str, Any]]
    ) -> list[tuple[str | None, list[dict[str, Any]]]]:
        """``events`` split by shard, in order: (shard, events); one group keyed by site
        (shard None) for a site of one hall."""
        if not self.shard_of:
            return [(None, events)]
        field, first = ("link", self.first_shard) if kind == "link" else ("rack", "")
        groups: dict[str, list[dict[str, Any]]] = {}
        for event in events:
            shard = self.shard_of.get(event[field], first)
            groups.setdefault(shard, []).append(event)
        return list(groups.items())

    def _silent(self, t_s: float, dt_s: float) -> np.ndarray:
        n = len(self.silent_until)
        start = self.silence_rng.random(n) < self.plan.silence_rate_h * dt_s / 3600
        fresh = start & (self.silent_until <= t_s)
        if fresh.any():
            self.silent_until[fresh] = t_s + self.silence_rng.uniform(*SILENCE_S, int(fresh.sum()))
        silent = self.silent_until > t_s
        for s in self.plan.silences:
            if s.site == self.site and s.start_s <= t_s < s.start_s + s.duration_s:
                silent[min(s.rack_index, n - 1)] = True
        return silent

    def step(
        self, k: int, t_s: float, dt_s: float, ts_ms: int, start_hour: float, gpu_every: int
    ) -> SiteReadings:
        power = self.power
        power.step(t_s, dt_s, start_hour)
        site_w = float(power.rack_w.sum())
        lay = power.layout
        site_load = (site_w - lay.rack_idle_w.sum()) / max(1.0, self.max_w - lay.rack_idle_w.sum())
        self.links.step(t_s, dt_s, power.rack_load(), float(np.clip(site_load, 0, 1)))
        silent = self._silent(t_s, dt_s)
        polled = (lay.gpu_node % gpu_every) == (k % gpu_every)
        return SiteReadings(
            site=self.site,
            rack_power=power.rack_events(ts_ms, silent),
            gpu=power.gpu_events(ts_ms, polled & ~silent[lay.gpu_rack]),
            link=self.links.events(ts_ms),
            site_power_w=site_w,
        )


class FleetSimulator:
    """Steps every simulated site of a fleet, tick by tick."""

    def __init__(self, fleet: Fleet, plan: ScenarioPlan, options: SimOptions = SimOptions()):
        if options.interval_s <= 0 or options.gpu_every < 1:
            raise ValueError("interval_s must be > 0 and gpu_every >= 1")
        self.fleet, self.plan, self.options = fleet, plan, options
        self.start_ms = (
            options.start_ms if options.start_ms is not None else int(time.time() * 1000)
        )
        self.start_hour = (self.start_ms / 3_600_000) % 24
        self.sites = [SiteSimulator(fleet, s.site, plan, options.seed) for s in fleet.sites]
        self.k = 0

    @classmethod
    def from_names(
        cls,
        fleet: Fleet,
        scenarios: Iterable[str] = ("steady",),
        options: SimOptions = SimOptions(),
        **plan_options: Any,
    ) -> FleetSimulator:
        """Scenarios by name; ``plan_options`` go to :func:`plan_scenarios`
        (``breach_site``, ``wan_link``, ``effects_at_s``)."""
        return cls(fleet, plan_scenarios(fleet, scenarios, **plan_options), options)

    def step(self) -> tuple[float, int, list[SiteReadings]]:
        """Advance one tick: (seconds since start, ts in epoch ms, readings per site)."""
        dt = self.options.interval_s
        t_s = self.k * dt
        ts_ms = self.start_ms + round(t_s * 1000)
        readings = [
            site.step(self.k, t_s, dt, ts_ms, self.start_hour, self.options.gpu_every)
            for site in self.sites
        ]
        self.k += 1
        return t_s, ts_ms, readings


class SimSource:
    """The simulator as an agent source: one message per site (or hall), kind and tick."""

    def __init__(
        self,
        simulator: FleetSimulator,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self.simulator = simulator
        self.batch_size = batch_size
        self.max_bytes = max_bytes

    def describe(self) -> str:
        sim = self.simulator
        names = ", ".join(sorted(sim.plan.names))
        return (
            f"simulator: {len(sim.sites)} sites, scenario {names}, seed {sim.options.seed}, "
            f"every {sim.options.interval_s:g} s"
        )

    def tick_messages(self) -> tuple[float, list[OutMessage]]:
        t_s, ts_ms, readings = self.simulator.step()
        messages: list[OutMessage] = []
        for site, r in zip(self.simulator.sites, readings, strict=True):
            for kind, events in (("rack_power", r.rack_power), ("gpu", r.gpu), ("link", r.link)):
                for shard, group in site.by_shard(kind, events) if events else ():
                    messages += encode_batches(
                        kind, r.site, group, self.batch_size, self.max_bytes, shard=shard
                    )
            messages += site.chaos.messages(r, ts_ms)
        return t_s, messages

    def ticks(self) -> Iterator[Tick]:
        while True:
            t_s, messages = self.tick_messages()
            yield Tick(t_s, messages)
