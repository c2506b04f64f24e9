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
    temp_idle_c: float
    temp_full_c: float
    mem_train_pct: float
    mem_infer_pct: float
    peak_frac: float = 1.0  # flat-out jobs (cap-breach bursts); the trace peaked at 1.06


# fmt: off
# Columns: vendor, model, board W | fractions of board power: idle, loading, training,
# inference at full demand, checkpoint | temperature idle/full (C) | memory used %
# in training and inference. H100 from the trace; H200 the same silicon with more and
# faster memory (less of it used by the same job). Blackwell and other vendors: board
# power from public ratings, fractions assumed (AMD and Intel report higher idle shares;
# GB200 is liquid cooled and runs cooler).
_ACCELERATORS = {
    "H100": ("nvidia", "NVIDIA H100 80GB HBM3", 700, 0.10, 0.17, 0.78, 0.62, 0.21, 31, 68, 52, 90),
    "H200": ("nvidia", "NVIDIA H200 141GB", 700, 0.11, 0.17, 0.80, 0.60, 0.21, 30, 66, 38, 90),
    "B200": ("nvidia", "NVIDIA B200", 1000, 0.13, 0.18, 0.80, 0.63, 0.22, 32, 72, 45, 92),
    "GB200": ("nvidia", "NVIDIA GB200", 1200, 0.12, 0.18, 0.80, 0.64, 0.22, 29, 62, 45, 92),
    "MI300X": ("amd", "AMD Instinct MI300X", 750, 0.19, 0.25, 0.82, 0.66, 0.28, 36, 78, 40, 88),
    "Gaudi3": ("intel", "Intel Gaudi 3", 900, 0.17, 0.22, 0.76, 0.58, 0.25, 34, 74, 42, 85),
}
# fmt: on
ACCELERATORS: dict[str, Accelerator] = {
    name: Accelerator(*row) for name, row in _ACCELERATORS.items()
}


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
# fmt: off
# Columns: nodes per rack, accelerators per node, host W idle and busy per node, fixed W.
_PLATFORMS = {
    "H100":   (8, 8, 1900, 2300, 1500),
    "H200":   (8, 8, 1900, 2300, 1500),
    "B200":   (8, 8, 2400, 3200, 1800),
    "GB200":  (18, 4, 1000, 1700, 8000),  # NVL72: 18 compute trays + 9 switch trays
    "MI300X": (8, 8, 1900, 2400, 1500),
    "Gaudi3": (8, 8, 1900, 2400, 1500),
}
# fmt: on
PLATFORMS: dict[str, Platform] = {
    name: Platform(name, ACCELERATORS[name], *row) for name, row in _PLATFORMS.items()
}

# Training dynamics from h100-training-node (seconds).
CHECKPOINT_PERIOD_S = 68.5
CHECKPOINT_DURATION_S = 21.0
LOADING_S = 90.0
RAMP_S = 2.5
GPU_NOISE_FRAC = 0.019  # per-sample power noise, fraction of the GPU's level
GPU_SPREAD_FRAC = 0.013  # static board-to-board difference
TRAIN_UTIL_PCT = (90.6, 3.7)  # mean, standard deviation
CKPT_RANK0_UTIL_PCT = 4.0
