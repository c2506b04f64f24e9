"""GPU load per rack (windowed aggregates) and the power limit of known models."""

from __future__ import annotations

import pytest

from pipeline.core.gpu import RackGpus, board_power_w


@pytest.mark.parametrize(
    ("model", "limit", "expected"),
    [
        ("NVIDIA H100 80GB HBM3", None, 700.0),
        ("NVIDIA GB200", None, 1200.0),
        ("NVIDIA B200", None, 1000.0),
        ("AMD Instinct MI300X", None, 750.0),
        ("H100-SXM5", 650.0, 650.0),  # a reported limit wins
        ("Mystery Accelerator", None, None),
        (None, None, None),
    ],
)
def test_board_power(model: str | None, limit: float | None, expected: float | None) -> None:
    assert board_power_w(model, limit) == expected


def test_rack_stats_over_the_window() -> None:
    rack = RackGpus(window_ms=15_000)
    rack.update(1_000, 90.0, 600.0, 700.0)
    rack.update(1_000, 10.0, 200.0, 700.0)
    stats = rack.stats(now_ms=2_000, window_ms=15_000)
    assert (stats.samples, stats.mean_util_pct, stats.max_util_pct) == (2, 50.0, 90.0)
    assert stats.mean_power_w == 400.0 and stats.power_share == pytest.approx(800 / 1400)
    assert stats.w_per_util_pt == pytest.approx(8.0)
    assert not stats.idle


def test_idle_rack_and_unknown_limit() -> None:
    rack = RackGpus(window_ms=15_000)
    rack.update(1_000, 1.0, 300.0, 700.0)
    rack.update(1_000, 2.0, 300.0, None)
    stats = rack.stats(2_000, 15_000)
    assert stats.idle and stats.power_share is None


def test_samples_leave_the_window() -> None:
    rack = RackGpus(window_ms=15_000)
    rack.update(0, 50.0, 500.0, 700.0)
    assert rack.stats(10_000, 15_000).samples == 1
    assert rack.stats(40_000, 15_000).samples == 0


def test_buckets_are_reused_and_old_samples_ignored() -> None:
    rack = RackGpus(window_ms=15_000)  # 4 buckets of 5 s
    for t in range(0, 60_000, 1_000):
        rack.update(t, 10.0, 100.0, 700.0)
    stats = rack.stats(59_000, 15_000)
    # the window (44 s, 59 s] plus the bucket it starts in: samples of 40..59 s
    assert stats.samples == 20
    assert rack.update(1_000, 99.0, 999.0, 700.0) is False  # far older than any bucket
    assert rack.stats(59_000, 15_000).max_util_pct == 10.0
