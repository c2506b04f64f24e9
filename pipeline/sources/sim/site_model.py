"""One simulated site: racks of nodes of accelerators, stepped with numpy.

Per tick every accelerator gets a target power level from what its rack does (serving
inference at the hour's demand, a phase of a training job, idling in reserve) and moves
toward it with the ramp time measured on real H100s; rack power is exactly the sum of its
accelerators, its hosts (which draw more as their GPUs work) and the rack's fixed load,
so rack and GPU readings agree. Constants and their sources: :mod:`.hardware`.

Jobs: each run of a training job is a job (``SITE-train-J-N``, priority ``training``);
each inference rack serves as one (``SITE-serve-RACK``, priority ``inference``); reserve
racks run none. Tenants are drawn from :data:`TENANTS` by job. A GPU within 3 % of its
board power reports the software power cap (NVML's clocks event reason 0x4), an idle
one the idle reason (0x1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.events import SiteSpec
from pipeline.sources.sim.fleet import SiteSim
from pipeline.sources.sim.hardware import (
    CKPT_RANK0_UTIL_PCT,
    GPU_NOISE_FRAC,
    RAMP_S,
    TRAIN_UTIL_PCT,
)
from pipeline.sources.sim.jobs import JobTimeline, Phase
from pipeline.sources.sim.layout import SiteLayout
from pipeline.sources.sim.scenarios import ScenarioPlan

TENANTS = ("search", "ads", "research", "assistant", "vision")
CAP_NEAR = 0.97  # of board power: the power cap holds the clocks down (assumed)
SW_POWER_CAP, GPU_IDLE = 0x4, 0x1  # NVML clocks event reasons
DEMAND_TAU_S = 120.0  # inference demand wander per rack (assumed)
DEMAND_SIGMA = 0.08
SURGE_TAU_S = 300.0  # site-wide demand wander (assumed)
SURGE_SIGMA = 0.06
TEMP_TAU_S = 30.0
IDLE_MEM_PCT = 0.2

#: Per GPU: target power fraction, utilization %, memory used %.
Targets = tuple[np.ndarray, np.ndarray, np.ndarray]


def daily_demand(local_hour: float) -> float:
    """Inference demand over the day, 0.16 at 04:00 to 0.82 at 19:00 local (assumed shape)."""
    angle = 2 * math.pi * local_hour / 24
    return (
        0.52
        + 0.30 * math.cos(angle - 2 * math.pi * 17 / 24)
        + 0.08 * math.cos(2 * angle - 4 * math.pi * 21 / 24)
    )


@dataclass
class SiteReadings:
    """The readings of one site at one tick, as contract dicts (ts in epoch ms)."""

    site: str
    rack_power: list[dict[str, Any]] = field(default_factory=list)
    gpu: list[dict[str, Any]] = field(default_factory=list)
    link: list[dict[str, Any]] = field(default_factory=list)
    site_power_w: float = 0.0  # true draw, silent racks included (for tests and logs)


class SitePower:
    """The power side of a site: accelerators, hosts, racks."""

    def __init__(
        self, spec: SiteSpec, sim: SiteSim, plan: ScenarioPlan, rng: np.random.Generator
    ) -> None:
        self.spec, self.sim, self.plan, self.rng = spec, sim, plan, rng
        self.layout = SiteLayout(sim, rng)
        lay = self.layout
        self.jobs = [
            JobTimeline(np.random.default_rng(rng.integers(2**63))) for _ in range(sim.jobs)
        ]
        self.demand_walk = np.ones(lay.n_racks)
        self.surge = 1.0
        self.frac = lay.idle.copy()
        self.temp = lay.temp_idle.copy()
        self.power = lay.board_w * lay.idle
        self.util = np.zeros(lay.n_gpus)
        self.mem = np.full(lay.n_gpus, IDLE_MEM_PCT)
        self.host_w = lay.host_idle.copy()
        self.rack_w = np.zeros(lay.n_racks)
        self.first = True
        #: per GPU, an index into ``owners`` (job, tenant, priority); -1: no job
        self.owners: list[tuple[str, str, str]] = []
        self._owner_of: dict[tuple[str, str, str], int] = {}
        self.owner = np.full(lay.n_gpus, -1, np.int64)
        if sim.profile == "inference":
            for r in np.flatnonzero(~lay.rack_reserve):
                tenant = TENANTS[int(r) % len(TENANTS)]
                code = self._code((f"{spec.site}-serve-{lay.rack_ids[r]}", tenant, "inference"))
                self.owner[lay.gpu_rack == r] = code

    def _code(self, owner: tuple[str, str, str]) -> int:
        code = self._owner_of.get(owner)
        if code is None:
            code = self._owner_of[owner] = len(self.owners)
            self.owners.append(owner)
        return code

    # --- targets ----------------------------------------------------------------
    def _inference_targets(self, t_s: float, dt_s: float, start_hour: float) -> Targets:
        lay = self.layout
        phi = math.exp(-dt_s / DEMAND_TAU_S)
        noise = self.rng.normal(0.0, DEMAND_SIGMA * math.sqrt(1 - phi * phi), lay.n_racks)
        self.demand_walk = 1.0 + (self.demand_walk - 1.0) * phi + noise
        # traffic surges hit the whole site at once (a launch, a region failing over)
        phi_site = math.exp(-dt_s / SURGE_TAU_S)
        surge = self.rng.normal(0.0, SURGE_SIGMA * math.sqrt(1 - phi_site * phi_site))
        self.surge = 1.0 + (self.surge - 1.0) * phi_site + surge
        hour = (start_hour + t_s / 3600 + self.sim.utc_offset_h) % 24
        level = daily_demand(hour) * self.surge * self.demand_walk
        demand = np.clip(level, 0.02, 1.0)[lay.gpu_rack]
        target = lay.idle + (lay.infer - lay.idle) * demand**0.85
        util = 100 * demand * self.rng.normal(1.0, 0.05, lay.n_gpus)
        return target, util, lay.mem_infer + self.rng.normal(0, 0.3, lay.n_gpus)

    def _training_targets(self, t_s: float) -> Targets:
        lay = self.layout
        target, util, mem = lay.idle.copy(), np.zeros(lay.n_gpus), np.full(lay.n_gpus, IDLE_MEM_PCT)
        for j, job in enumerate(self.jobs):
            sel = lay.gpu_job == j
            run = job.run_at(t_s)
            phase = run.phase(t_s)
            name = f"{self.spec.site}-train-{j}-{job.run_number}"
            owner = (name, TENANTS[j % len(TENANTS)], "training")
            self.owner[sel] = -1 if phase == Phase.IDLE else self._code(owner)
            if phase == Phase.LOADING:
                progress = run.loading_progress(t_s)
                target[sel] = lay.loading[sel]
                util[sel] = self.rng.integers(0, 6, int(sel.sum()))
                mem[sel] = IDLE_MEM_PCT + progress * (lay.mem_train[sel] - IDLE_MEM_PCT)
            elif phase in (Phase.COMPUTE, Phase.CHECKPOINT):
                mem[sel] = lay.mem_train[sel]
                if phase == Phase.COMPUTE:
                    target[sel] = lay.train[sel]
                    util[sel] = self.rng.normal(*TRAIN_UTIL_PCT, int(sel.sum()))
                else:  # rank 0 writes the checkpoint; the rest spin at 100 % on a collective
                    target[sel] = lay.ckpt[sel]
                    util[sel] = np.where(lay.rank0[sel], CKPT_RANK0_UTIL_PCT, 100.0)
        return target, util, mem

    # --- step -------------------------------------------------------------------
    def step(self, t_s: float, dt_s: float, start_hour: float) -> None:
        lay = self.layout
        if self.sim.profile == "inference":
            target, util, mem = self._inference_targets(t_s, dt_s, start_hour)
        else:
            target, util, mem = self._training_targets(t_s)
        idle = lay.gpu_reserve
        target[idle], util[idle], mem[idle] = lay.idle[idle], 0.0, IDLE_MEM_PCT
        burst = self.plan.breach_level(self.spec.site, t_s)
        if burst > 0:  # everything, reserve included, toward flat-out
            target = (1 - burst) * target + burst * lay.peak
            util = (1 - burst) * util + burst * 100.0
            mem = np.maximum(mem, burst * lay.mem_train)
        # 10-90 % in RAMP_S; the first tick starts settled (agents attach to running sites)
        alpha = 1.0 if self.first else 1.0 - math.exp(-dt_s * math.log(9) / RAMP_S)
        self.frac += (target - self.frac) * alpha
        noise = self.rng.normal(1.0, GPU_NOISE_FRAC, lay.n_gpus)
        self.power = np.clip(lay.board_w * self.frac * lay.spread * noise, 0.0, 1.1 * lay.board_w)
        self.util = np.clip(util, 0.0, 100.0)
        self.mem = np.clip(mem, 0.0, 100.0)
        self._step_temperature(dt_s)
        self.first = False
        node_util = np.bincount(lay.gpu_node, self.util, lay.n_nodes) / lay.node_gpus
        host_noise = self.rng.normal(1.0, 0.01, lay.n_nodes)
        self.host_w = (
            lay.host_idle + (lay.host_busy - lay.host_idle) * node_util / 100
        ) * host_noise
        self.rack_w = (
            np.bincount(lay.gpu_rack, self.power, lay.n_racks)
            + np.bincount(lay.node_rack, self.host_w, lay.n_racks)
            + lay.rack_fixed
        )

    def _step_temperature(self, dt_s: float) -> None:
        lay = self.layout
        rel = np.clip((self.frac - lay.idle) / (1 - lay.idle), 0.0, 1.0)
        goal = lay.temp_idle + (lay.temp_full - lay.temp_idle) * rel
        settle = 1.0 if self.first else 1.0 - math.exp(-dt_s / TEMP_TAU_S)
        self.temp += (goal - self.temp) * settle

    def rack_load(self) -> np.ndarray:
        """0..1 per rack: where its draw sits between idle and maximum."""
        lay = self.layout
        span = lay.rack_max_w - lay.rack_idle_w
        return np.asarray(np.clip((self.rack_w - lay.rack_idle_w) / span, 0, 1))

    # --- events -------------------------------------------------------------------
    def rack_events(self, ts_ms: int, silent: np.ndarray) -> list[dict[str, Any]]:
        site, ids = self.spec.site, self.layout.rack_ids
        return [
            {"site": site, "rack": ids[r], "ts": ts_ms, "power_w": round(w, 1), "source": "sim"}
            for r, w in enumerate(self.rack_w.tolist())
            if not silent[r]
        ]

    def gpu_events(self, ts_ms: int, include: np.ndarray) -> list[dict[str, Any]]:
        lay, site = self.layout, self.spec.site
        index = np.flatnonzero(include)
        power = self.power[index].round(2).tolist()
        util = self.util[index].round(0).tolist()
        mem = self.mem[index].round(1).tolist()
        temp = self.temp[index].round(0).tolist()
        owners = [self.owners[c] if c >= 0 else None for c in self.owner[index].tolist()]
        reasons = np.where(self.power[index] >= CAP_NEAR * lay.board_w[index], SW_POWER_CAP, 0)
        reasons = np.where(self.util[index] < 1, reasons | GPU_IDLE, reasons).tolist()
        events = [
            {
                "site": site,
                "rack": lay.rack_ids[lay.gpu_rack[g]],
                "host": lay.host_ids[lay.gpu_node[g]],
                "gpu": lay.gpu_ids[g],
                "ts": ts_ms,
                "util_pct": u,
                "power_w": p,
                "vendor": lay.vendor[g],
                "model": lay.model[g],
                "mem_used_pct": m,
                "temp_c": c,
                "power_limit_w": lay.limit[g],
                "clock_reasons": r,
            }
            for g, p, u, m, c, r in zip(
                index.tolist(), power, util, mem, temp, reasons, strict=True
            )
        ]
        for event, owner in zip(events, owners, strict=True):
            if owner is not None:
                event["job"], event["tenant"], event["priority"] = owner
        return events
