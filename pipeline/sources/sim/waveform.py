"""Power waveforms of a synchronous training job, sample by sample (20 Hz and faster).

Every GPU of a job alternates between a compute phase and a communication phase each
iteration, pauses for checkpoints, ramps up at the start and falls to idle at the end;
optionally NVIDIA's power smoothing holds a floor and limits the ramp rate, and a
demand-response curtailment scales the load down and back. Racks of one job move
together (ranks stay within milliseconds of each other); their sum is what the grid sees.

Calibration, from the h100-training-node trace (nvidia-smi, 8x H100 SXM, 100 ms sampling,
power-trace_2025-07-26-23-32-09.csv, kept outside the repository; figures measured once
with numpy, the data themselves are not used here):

* NVML reports power on Ampere and newer averaged over 1 s, and the trace shows it: its
  spectrum during training has nulls at 1, 2, 3 Hz (a 1 s average's), and checkpoint
  edges rise and fall 10-90 % in 0.80-0.88 s, what a 1 s average makes of a step. So
  edges are steps here, and the within-iteration swing is seen only through the average.
* Iteration: least-squares sinusoid scans of the node power over the seven training
  stretches (27-44 s each) all peak at 2.135-2.145 Hz, with a second line at exactly
  twice that (4.27-4.29 Hz): an iteration of 0.467 s with a non-sinusoidal shape.
  Measured amplitudes (node of 8 GPUs, mean 4.41 kW): 20.2 W at 2.14 Hz and 11.6 W at
  4.28 Hz (:data:`TRACE_LINE_W`).
* Swing: a 1 s average passes 0.0633 of a 2.14 Hz sinusoid and 0.0573 at 4.28 Hz, so
  the node swings 319 W and 202 W at those frequencies before averaging. For a square
  compute/communication wave, second/first = cos(pi d) gives the compute duty d = 0.72,
  and the first harmonic (2 depth / pi) sin(pi d) a depth of 648 W: 81 W per GPU, 0.116
  of board power, 14.7 % of the node's training power peak to peak. The correction is
  steep near the average's nulls (a 0.98-1.02 s average gives 255-443 W), so read the
  depth as 10-20 %, the figure for this one-node job; multi-node jobs wait longer on
  the network and swing deeper (arXiv 2508.14318 shows whole-cluster swings).
* Checkpoints (68.5 s every, 21 s long, ~0.21 of board power), the 2.5 s start ramp
  and the levels are those of :mod:`pipeline.sources.sim.hardware`. The job's end (the
  crash at 665 s) is a step to idle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pipeline.sources.sim.hardware import (
    ACCELERATORS,
    CHECKPOINT_DURATION_S,
    CHECKPOINT_PERIOD_S,
    RAMP_S,
    Accelerator,
)

FloatArray = npt.NDArray[np.float64]

ITERATION_S = 0.467
COMPUTE_DUTY = 0.72
SWING_FRAC = 0.116  # compute minus communication level, fraction of board power
#: What the trace showed through NVML's 1 s average: node W at 1 and 2 x the iteration
#: frequency, and the node's mean training power (tests check the model against them).
TRACE_LINE_W = (20.2, 11.6)
TRACE_NODE_TRAIN_W = 4408.0
NVML_AVERAGE_S = 1.0


@dataclass(frozen=True, slots=True)
class TrainingJob:
    """GPU power level (fraction of board power) of one job over time, noise-free."""

    accelerator: Accelerator = ACCELERATORS["H100"]
    start_s: float = 0.0  # compute starts (model loading is over)
    end_s: float = math.inf
    iteration_s: float = ITERATION_S
    compute_duty: float = COMPUTE_DUTY
    swing_frac: float = SWING_FRAC
    checkpoint_period_s: float | None = CHECKPOINT_PERIOD_S
    checkpoint_s: float = CHECKPOINT_DURATION_S
    ramp_s: float = RAMP_S  # start, 10 % to 90 %

    def level(self, t_s: FloatArray) -> FloatArray:
        acc = self.accelerator
        since = np.asarray(t_s, dtype=np.float64) - self.start_s
        compute = acc.train_frac + (1 - self.compute_duty) * self.swing_frac
        phase = np.mod(since, self.iteration_s) / self.iteration_s
        level = np.where(phase < self.compute_duty, compute, compute - self.swing_frac)
        if self.checkpoint_period_s:
            into = np.mod(since, self.checkpoint_period_s)
            level = np.where(
                into >= self.checkpoint_period_s - self.checkpoint_s, acc.ckpt_frac, level
            )
        # a linear ramp whose 10-90 % takes ramp_s
        ramp = np.clip(since / (self.ramp_s / 0.8) if self.ramp_s > 0 else 1.0, 0.0, 1.0)
        level = acc.idle_frac + (level - acc.idle_frac) * ramp
        running = (since >= 0) & (np.asarray(t_s) < self.end_s)
        return np.asarray(np.where(running, level, acc.idle_frac), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Smoothing:
    """NVIDIA's power smoothing (NVML power smoothing profiles, Blackwell and newer): a
    floor as a share of board power, ramp rates in W/s per GPU, and a hysteresis before
    ramping down. Values here are an example profile (assumed, not measured)."""

    floor_frac: float = 0.7
    ramp_up_w_per_s: float = 500.0
    ramp_down_w_per_s: float = 200.0
    hysteresis_s: float = 1.0


class Smoother:
    """Applies :class:`Smoothing` to GPU power levels of many racks, sample by sample
    (stateful: a ramp-rate limit depends on the previous output)."""

    def __init__(self, smoothing: Smoothing, board_w: float, racks: int) -> None:
        self.smoothing = smoothing
        self.board_w = board_w
        self._out = np.full(racks, np.nan)  # GPU W per rack, last output
        self._below_s = np.zeros(racks)  # how long demand has been under the output

    def apply(self, demand_frac: FloatArray, step_s: float) -> FloatArray:
        """``demand_frac``: racks x samples of GPU levels; returns the smoothed levels."""
        s = self.smoothing
        wanted = np.maximum(demand_frac * self.board_w, s.floor_frac * self.board_w)
        out = np.empty_like(wanted)
        for i in range(wanted.shape[1]):  # a rate limit is a recursion in time
            target = wanted[:, i]
            last = np.where(np.isnan(self._out), target, self._out)
            self._below_s = np.where(target < last, self._below_s + step_s, 0.0)
            up = np.minimum(target, last + s.ramp_up_w_per_s * step_s)
            down = np.maximum(target, last - s.ramp_down_w_per_s * step_s)
            waiting = self._below_s < s.hysteresis_s
            self._out = np.where(target >= last, up, np.where(waiting, last, down))
            out[:, i] = self._out
        return out / self.board_w


@dataclass(frozen=True, slots=True)
class Curtailment:
    """A demand-response cut: the site's load scaled down by ``reduction`` over
    ``ramp_s`` from ``start_s`` (DR software lowering power limits and pausing work),
    held, and restored over ``restore_s`` from ``end_s``. ``slips`` are windows where the
    cut lapses back to full load (a failure to inject)."""

    start_s: float
    end_s: float
    reduction: float = 0.3
    ramp_s: float = 30.0
    restore_s: float = 30.0
    slips: tuple[tuple[float, float], ...] = ()

    def factor(self, t_s: FloatArray) -> FloatArray:
        t = np.asarray(t_s, dtype=np.float64)
        down = np.clip(self._share(t - self.start_s, self.ramp_s), 0.0, 1.0)
        at_end = float(np.clip(self._share(self.end_s - self.start_s, self.ramp_s), 0.0, 1.0))
        up = np.clip(self._share(t - self.end_s, self.restore_s), 0.0, 1.0)
        cut = self.reduction * np.where(t < self.end_s, down, at_end * (1.0 - up))
        for begin, end in self.slips:
            cut = np.where((t >= begin) & (t < end), 0.0, cut)
        return np.asarray(1.0 - cut, dtype=np.float64)

    @staticmethod
    def _share(elapsed: FloatArray | float, span: float) -> FloatArray | float:
        """How far a linear ramp of ``span`` s is after ``elapsed`` s (a step when 0)."""
        if span <= 0:
            return np.where(np.asarray(elapsed) >= 0, 1.0, 0.0)
        return elapsed / span
