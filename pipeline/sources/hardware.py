"""Accelerators and rack platforms the simulator builds sites from.

Calibration (derived once from two real traces kept outside the repository, see
``/work/shared/data``; the numbers below are the only thing taken from them):

* ``h100-training-node`` (nvidia-smi, 8x H100 SXM 700 W, 100 ms sampling, an 8B-model
  training run, file power-trace_2025-07-26-23-32-09.csv):
  idle 72 W per GPU before start and 74 W after the crash (0.10-0.11 of board power);
  model loading 112-122 W at ~0 % utilization (0.17); training compute 545 W median
  (0.78), p95 565 W, per-GPU 1 s standard deviation 10.5 W (1.9 %), per-GPU means
  548-562 W (+-1.3 % between boards); utilization 90.6 +- 3.7 % (util and power are
  barely correlated, r = 0.08). Checkpoints every 68.5 s (save_steps 200), lasting
  21 s, during which node power falls from 4.36 kW to 1.22 kW (GPU ~150 W = 0.21): rank 0
  shows 4 % utilization and the seven other GPUs 100 % while spinning on a collective.
  Ramp from loading to compute power, 10 %-90 %: 2.5 s; recovery from a checkpoint: ~1 s.
  Memory used 41.3 GiB of 80 GB in training (52 %). Peak seen in the sibling trace of the
  same source: 739 W (1.06 of board power).
* ``h200-chassis-power`` (BMC Redfish whole-server power of two 8x H200 Cisco C885A nodes,
  ~11 s sampling, 20.8 h of MLPerf training): idle 2.44-2.50 kW per server (so with
  8 GPUs at ~75 W, about 1.9 kW of CPUs, NICs, fans and conversion), idle noise 80 W
  (3 %), busy 4.5-6.6 kW, maximum 7.8 kW (=> ~2.2-2.4 kW of host overhead at full load),
  a >1 kW step between consecutive samples 40-87 times in 20.8 h per node.

Figures for other accelerators are scaled from these by board power; numbers marked
"assumed" are not measured here (public board power ratings and plausible ratios).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Accelerator:
    """One accelerator model: board power and how it spends it (fractions of board power)."""

    vendor: str
    model: str
    board_w: float
    idle_frac: float  # no work, driver loaded
    loading_frac: float  # model/data loading, near 0 % utilization
    train_frac: float  # steady training compute
    infer_frac: float  # inference at full demand (memory bound: below training)
    ckpt_frac: float  # during a checkpoint (collectives spinning)
    peak_frac: float  # flat-out, power-virus-like jobs (cap-breach bursts)
    temp_idle_c: float
    temp_full_c: float
    mem_train_pct: float
    mem_infer_pct: float


H100 = Accelerator(
    "nvidia", "NVIDIA H100 80GB HBM3", 700.0,
    idle_frac=0.10, loading_frac=0.17, train_frac=0.78, infer_frac=0.62, ckpt_frac=0.21,
    peak_frac=1.0, temp_idle_c=31.0, temp_full_c=68.0, mem_train_pct=52.0, mem_infer_pct=90.0,
)  # fmt: skip
H200 = Accelerator(
    "nvidia", "NVIDIA H200 141GB HBM3e", 700.0,
    idle_frac=0.11, loading_frac=0.17, train_frac=0.80, infer_frac=0.60, ckpt_frac=0.21,
    peak_frac=1.0, temp_idle_c=30.0, temp_full_c=66.0, mem_train_pct=38.0, mem_infer_pct=90.0,
)  # fmt: skip
# Blackwell and the other vendors: board power from public ratings; fractions assumed
# (Blackwell idles higher in absolute watts, AMD and Intel report higher idle shares).
B200 = Accelerator(
    "nvidia", "NVIDIA B200", 1000.0,
    idle_frac=0.13, loading_frac=0.18, train_frac=0.80, infer_frac=0.63, ckpt_frac=0.22,
    peak_frac=1.0, temp_idle_c=32.0, temp_full_c=72.0, mem_train_pct=45.0, mem_infer_pct=92.0,
)  # fmt: skip
GB200 = Accelerator(
    "nvidia", "NVIDIA GB200", 1200.0,
    idle_frac=0.12, loading_frac=0.18, train_frac=0.80, infer_frac=0.64, ckpt_frac=0.22,
    peak_frac=1.0, temp_idle_c=29.0, temp_full_c=62.0, mem_train_pct=45.0, mem_infer_pct=92.0,
)  # fmt: skip  (liquid cooled: runs cooler)
MI300X = Accelerator(
    "amd", "AMD Instinct MI300X", 750.0,
    idle_frac=0.19, loading_frac=0.25, train_frac=0.82, infer_frac=0.66, ckpt_frac=0.28,
    peak_frac=1.0, temp_idle_c=36.0, temp_full_c=78.0, mem_train_pct=40.0, mem_infer_pct=88.0,
)  # fmt: skip
GAUDI3 = Accelerator(
    "intel", "Intel Gaudi 3", 900.0,
    idle_frac=0.17, loading_frac=0.22, train_frac=0.76, infer_frac=0.58, ckpt_frac=0.25,
    peak_frac=1.0, temp_idle_c=34.0, temp_full_c=74.0, mem_train_pct=42.0, mem_infer_pct=85.0,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Platform:
    """A rack type: nodes of accelerators plus what else draws power in the rack."""

    name: str
    accelerator: Accelerator
    nodes: int
    gpus_per_node: int
    host_idle_w: float  # per node: CPUs, NICs, fans, conversion losses at idle
    host_busy_w: float  # per node at full accelerator load (fans and CPUs ramp)
    rack_fixed_w: float  # switches, PDU losses, management: independent of load

    @property
    def gpus(self) -> int:
        return self.nodes * self.gpus_per_node

    def max_w(self) -> float:
        """Rack power with every accelerator at its peak."""
        acc = self.accelerator
        node = self.gpus_per_node * acc.board_w * acc.peak_frac + self.host_busy_w
        return self.nodes * node + self.rack_fixed_w

    def idle_w(self) -> float:
        acc = self.accelerator
        node = self.gpus_per_node * acc.board_w * acc.idle_frac + self.host_idle_w
        return self.nodes * node + self.rack_fixed_w


# Host overhead of 8-GPU HGX servers from the h200-chassis-power trace (1.9 kW idle,
# ~2.3 kW busy); Blackwell and GB200 trays assumed higher per GPU. Rack maxima span
# ~63-128 kW and idle ~20-30 kW, so racks draw 40-130 kW when busy.
PLATFORMS: dict[str, Platform] = {
    p.name: p
    for p in (
        Platform("H100", H100, nodes=8, gpus_per_node=8, host_idle_w=1900, host_busy_w=2300,
                 rack_fixed_w=1500),
        Platform("H200", H200, nodes=8, gpus_per_node=8, host_idle_w=1900, host_busy_w=2300,
                 rack_fixed_w=1500),
        Platform("B200", B200, nodes=8, gpus_per_node=8, host_idle_w=2400, host_busy_w=3200,
                 rack_fixed_w=1800),
        Platform("GB200", GB200, nodes=18, gpus_per_node=4, host_idle_w=1000, host_busy_w=1700,
                 rack_fixed_w=8000),  # NVL72: 18 compute trays + 9 switch trays
        Platform("MI300X", MI300X, nodes=8, gpus_per_node=8, host_idle_w=1900, host_busy_w=2400,
                 rack_fixed_w=1500),
        Platform("Gaudi3", GAUDI3, nodes=8, gpus_per_node=8, host_idle_w=1900, host_busy_w=2400,
                 rack_fixed_w=1500),
    )
}  # fmt: skip

# Training dynamics from h100-training-node (seconds).
CHECKPOINT_PERIOD_S = 68.5
CHECKPOINT_DURATION_S = 21.0
LOADING_S = 90.0
RAMP_S = 2.5
GPU_NOISE_FRAC = 0.019  # per-sample power noise, fraction of the GPU's level
GPU_SPREAD_FRAC = 0.013  # static board-to-board difference
TRAIN_UTIL_PCT = (90.6, 3.7)  # mean, standard deviation
CKPT_RANK0_UTIL_PCT = 4.0
