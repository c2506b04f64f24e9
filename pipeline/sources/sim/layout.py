"""The static layout of a simulated site as flat numpy arrays (racks, nodes, GPUs).

Ids: racks ``r001``.. (``h01-r0001``.. in a site of several halls), hosts ``r001-n01``..
(unique within the site), GPUs ``0``..``7`` per host as nvidia-smi and rocm-smi number
them. Reserve racks are drawn from the site's own random stream, so the same seed gives
the same layout. A site of several halls splits its racks evenly, in order, into halls
``hall-01``..: each hall is a shard (messages keyed ``SITE/hall-NN``), or with
``rows_per_hall`` each row of a hall (``SITE/hall-NN.row-N``).
"""

from __future__ import annotations

import numpy as np

from pipeline.sources.sim.fleet import SiteSim
from pipeline.sources.sim.hardware import GPU_SPREAD_FRAC, Platform


class SiteLayout:
    """Per-GPU, per-node and per-rack constants of one site."""

    def __init__(self, sim: SiteSim, rng: np.random.Generator) -> None:
        platforms = sim.platforms()
        self.n_racks = len(platforms)
        #: the shard (hall, or row of a hall) of every rack; empty for a site keyed by site
        self.rack_shard: list[str] = []
        if sim.halls > 1 or sim.rows_per_hall > 1:
            halls = [i * sim.halls // self.n_racks + 1 for i in range(self.n_racks)]
            self.rack_ids = [f"h{h:02d}-r{i + 1:04d}" for i, h in enumerate(halls)]
            self.rack_shard = [f"hall-{h:02d}" for h in halls]
            if sim.rows_per_hall > 1:
                self.rack_shard = _rows(halls, sim.rows_per_hall)
        else:
            self.rack_ids = [f"r{i + 1:03d}" for i in range(self.n_racks)]
        reserve = np.zeros(self.n_racks, dtype=bool)
        if sim.reserve_racks:
            reserve[rng.choice(self.n_racks, sim.reserve_racks, replace=False)] = True
        self.rack_reserve = reserve
        self.rack_fixed = np.array([p.rack_fixed_w for p in platforms])
        self.rack_max_w = np.array([p.max_w() for p in platforms])
        self.rack_idle_w = np.array([p.idle_w() for p in platforms])
        self._build_nodes(platforms)
        self._build_gpus(platforms, rng)
        self._assign_jobs(sim.jobs)

    def _build_nodes(self, platforms: list[Platform]) -> None:
        node_rack, host_ids, idle, busy, gpus = [], [], [], [], []
        for r, p in enumerate(platforms):
            for n in range(p.nodes):
                node_rack.append(r)
                host_ids.append(f"{self.rack_ids[r]}-n{n + 1:02d}")
                idle.append(p.host_idle_w)
                busy.append(p.host_busy_w)
                gpus.append(p.gpus_per_node)
        self.n_nodes = len(node_rack)
        self.node_rack = np.array(node_rack, dtype=np.int64)
        self.host_ids = host_ids
        self.host_idle = np.array(idle)
        self.host_busy = np.array(busy)
        self.node_gpus = np.array(gpus, dtype=float)

    def _build_gpus(self, platforms: list[Platform], rng: np.random.Generator) -> None:
        rows: list[tuple[int, int, int, Platform]] = []
        node = 0
        for r, p in enumerate(platforms):
            for _ in range(p.nodes):
                rows.extend((r, node, g, p) for g in range(p.gpus_per_node))
                node += 1
        self.n_gpus = len(rows)
        self.gpu_rack = np.array([row[0] for row in rows], dtype=np.int64)
        self.gpu_node = np.array([row[1] for row in rows], dtype=np.int64)
        self.gpu_ids = [str(row[2]) for row in rows]
        self.rank0 = np.array([row[2] == 0 for row in rows])
        accs = [row[3].accelerator for row in rows]
        self.vendor = [a.vendor for a in accs]
        self.model = [a.model for a in accs]
        self.limit = [float(a.board_w) for a in accs]

        def column(attr: str) -> np.ndarray:
            return np.array([getattr(a, attr) for a in accs], dtype=float)

        self.board_w = column("board_w")
        self.idle, self.loading = column("idle_frac"), column("loading_frac")
        self.train, self.infer = column("train_frac"), column("infer_frac")
        self.ckpt, self.peak = column("ckpt_frac"), column("peak_frac")
        self.temp_idle, self.temp_full = column("temp_idle_c"), column("temp_full_c")
        self.mem_train, self.mem_infer = column("mem_train_pct"), column("mem_infer_pct")
        self.spread = rng.normal(1.0, GPU_SPREAD_FRAC, self.n_gpus)
        self.gpu_reserve = self.rack_reserve[self.gpu_rack]

    def _assign_jobs(self, jobs: int) -> None:
        """Active racks split into ``jobs`` contiguous blocks (a job spans whole racks)."""
        rack_job = np.full(self.n_racks, -1, dtype=np.int64)
        active = np.flatnonzero(~self.rack_reserve)
        for j, block in enumerate(np.array_split(active, jobs)):
            rack_job[block] = j
        self.rack_job = rack_job
        self.gpu_job = rack_job[self.gpu_rack]


def _rows(halls: list[int], rows: int) -> list[str]:
    """The row shard of every rack: each hall's racks split evenly, in order, into rows."""
    out: list[str] = []
    start = 0
    while start < len(halls):
        end = start
        while end < len(halls) and halls[end] == halls[start]:
            end += 1
        size = end - start
        out += [f"hall-{halls[start]:02d}.row-{j * rows // size + 1}" for j in range(size)]
        start = end
    return out
