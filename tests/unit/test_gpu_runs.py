"""A message's GPU samples reach their racks' aggregates run by run (numpy segment sums):
the result must equal feeding every sample on its own."""

from __future__ import annotations

from dataclasses import astuple

import numpy as np
import pytest

from pipeline.core.gpu import board_power_w
from pipeline.core.policy import RuleConfig
from pipeline.core.processor import Processor
from pipeline.core.readings import _aggregate_gpus
from pipeline.core.site import SiteMonitor

WINDOW_MS = 60_000


def _monitor() -> SiteMonitor:
    processor = Processor(RuleConfig(), lambda s: None, lambda s: None)
    return processor.monitor("hx-1", 0, 0)


def test_runs_give_the_racks_what_sample_by_sample_updates_give() -> None:
    rng = np.random.default_rng(3)
    n = 400
    # runs of a host's GPUs (same rack and instant), racks and instants revisited later
    racks = [f"r{(i // 6) % 9}" for i in range(n)]
    stamps = [1_000 * ((i // 6) % 4) for i in range(n)]
    util = [float(v) for v in rng.uniform(-0.0, 100.0, n).round(1)]
    power = [float(v) for v in rng.uniform(50.0, 1000.0, n).round(1)]
    limits: list[float | None] = [None if i % 4 else 700.0 for i in range(n)]
    # no board power known for some GPUs of racks r5-r8: their power share is unknown
    models = ["no-such-gpu" if (i // 6) % 9 >= 5 and i % 3 == 0 else "B200" for i in range(n)]
    got = {
        "rack": racks,
        "ts": stamps,
        "util_pct": util,
        "power_w": power,
        "power_limit_w": limits,
        "model": models,
    }
    runs, one_by_one = _monitor(), _monitor()
    _aggregate_gpus(runs, got)
    for rack, ts, u, w, limit, model in zip(
        racks, stamps, util, power, limits, models, strict=True
    ):
        one_by_one.rack_gpus(rack).update(ts, u, w, board_power_w(model, limit))
    assert set(runs.gpus) == set(one_by_one.gpus)
    unknown_somewhere = 0
    for rack, gpus in runs.gpus.items():
        mine, theirs = gpus.stats(4_000, WINDOW_MS), one_by_one.gpus[rack].stats(4_000, WINDOW_MS)
        assert mine.samples == theirs.samples > 0, rack
        # float32 buckets: a run's sum added once rounds differently from its samples
        # added one by one
        for a, b in zip(astuple(mine)[1:], astuple(theirs)[1:], strict=True):
            assert (a is None) == (b is None), rack
            assert a is None or a == pytest.approx(b, rel=1e-5), rack
        unknown_somewhere += mine.power_share is None
    assert 0 < unknown_somewhere < len(runs.gpus)  # both branches of the limits seen
