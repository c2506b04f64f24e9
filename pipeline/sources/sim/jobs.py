"""Training job timelines: loading, compute with periodic checkpoints, end, idle gap.

Every rack of a job follows the same timeline, which is what makes training sites
dangerous for caps: a checkpoint drops the job's power to ~0.2 of board power within a
second or two, and the end of the checkpoint brings it all back at once (calibrated in
:mod:`pipeline.sources.sim.hardware` from the h100-training-node trace: a checkpoint every
68.5 s lasting 21 s; 90 s of loading at ~0.17 of board power before compute starts).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from pipeline.sources.sim.hardware import CHECKPOINT_DURATION_S, CHECKPOINT_PERIOD_S, LOADING_S

RUN_MINUTES = (20.0, 90.0)  # length of one run (assumed)
GAP_MINUTES = (1.0, 5.0)  # idle between runs: restart, reschedule (assumed)
FIRST_START_MINUTES = (3.0, 30.0)  # the first run began this long before the agent started
_PERIOD_MULTIPLES = (1.0, 1.0, 1.5, 2.0, 3.0)  # jobs checkpoint at different intervals


class Phase(IntEnum):
    IDLE = 0
    LOADING = 1
    COMPUTE = 2
    CHECKPOINT = 3


@dataclass(frozen=True, slots=True)
class Run:
    start_s: float
    end_s: float
    period_s: float
    ckpt_s: float

    def phase(self, t_s: float) -> Phase:
        if t_s < self.start_s or t_s >= self.end_s:
            return Phase.IDLE
        into = t_s - self.start_s - LOADING_S
        if into < 0:
            return Phase.LOADING
        if into % self.period_s >= self.period_s - self.ckpt_s:
            return Phase.CHECKPOINT
        return Phase.COMPUTE

    def loading_progress(self, t_s: float) -> float:
        return float(np.clip((t_s - self.start_s) / LOADING_S, 0.0, 1.0))


class JobTimeline:
    """The runs of one job, drawn lazily from its own random stream."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        start = -60.0 * rng.uniform(*FIRST_START_MINUTES)
        self._runs: list[Run] = [self._draw_run(start)]
        self._index = 0

    def _draw_run(self, start_s: float) -> Run:
        rng = self._rng
        length = 60.0 * rng.uniform(*RUN_MINUTES)
        period = CHECKPOINT_PERIOD_S * float(rng.choice(_PERIOD_MULTIPLES))
        ckpt = CHECKPOINT_DURATION_S * rng.uniform(0.8, 1.3)
        return Run(start_s, start_s + LOADING_S + length, period, ckpt)

    def run_at(self, t_s: float) -> Run:
        """The run that holds ``t_s``, or the next one (in its idle gap before it)."""
        while self._runs[-1].end_s <= t_s:
            gap = 60.0 * self._rng.uniform(*GAP_MINUTES)
            self._runs.append(self._draw_run(self._runs[-1].end_s + gap))
        while self._index + 1 < len(self._runs) and self._runs[self._index].end_s <= t_s:
            self._index += 1
        return self._runs[self._index]

    def phase(self, t_s: float) -> Phase:
        return self.run_at(t_s).phase(t_s)

    @property
    def run_number(self) -> int:
        """Which run :meth:`run_at` last returned (0 for the first): each run is a job."""
        return self._index
