"""Time-to-cap forecast: a robust trend that ignores spikes."""

from __future__ import annotations

import itertools

import pytest

from pipeline.core.forecast import PowerTrend, theil_sen_slope


def ramp(trend: PowerTrend, start_w: float, w_per_s: float, seconds: int, spikes: bool = False):
    for s in range(seconds + 1):
        watts = start_w + w_per_s * s
        if spikes and s % 10 == 3:
            watts += 2e6  # a checkpoint-like swing, far off the trend
        trend.add(s * 1000, watts)


def test_theil_sen_recovers_slope_despite_outliers() -> None:
    points = [(t * 1000, 100.0 + 2.0 * t) for t in range(30)]
    points[5] = (5_000, 10_000.0)
    points[17] = (17_000, -5_000.0)
    assert theil_sen_slope(points) == pytest.approx(2.0)


def test_projection_of_a_steady_ramp() -> None:
    trend = PowerTrend(window_ms=300_000, step_ms=5_000)
    ramp(trend, 4.0e6, 1_000.0, 300)  # 4 MW rising 1 kW/s: at 4.3 MW after 300 s
    proj = trend.project(cap_w=5.0e6)
    assert proj is not None
    assert proj.slope_w_per_s == pytest.approx(1_000.0)
    assert proj.level_w == pytest.approx(4.3e6)
    assert proj.reach_ms == pytest.approx(300_000 + 700_000, abs=1)  # 0.7 MW / 1 kW/s


def test_spikes_do_not_move_the_projection() -> None:
    clean, noisy = PowerTrend(300_000), PowerTrend(300_000)
    ramp(clean, 4.0e6, 1_000.0, 300)
    ramp(noisy, 4.0e6, 1_000.0, 300, spikes=True)
    a, b = clean.project(5.0e6), noisy.project(5.0e6)
    assert a is not None and b is not None and a.reach_ms is not None and b.reach_ms is not None
    assert abs(a.reach_ms - b.reach_ms) < 30_000


def test_flat_or_falling_never_reaches() -> None:
    trend = PowerTrend(300_000)
    ramp(trend, 4.0e6, -500.0, 300)
    proj = trend.project(5.0e6)
    assert proj is not None and proj.reach_ms is None


def test_already_over_cap_reaches_now() -> None:
    trend = PowerTrend(300_000)
    ramp(trend, 5.5e6, 0.0, 300)
    proj = trend.project(5.0e6)
    assert proj is not None and proj.reach_ms == 300_000


def test_too_little_history_gives_no_projection() -> None:
    trend = PowerTrend(window_ms=300_000, step_ms=5_000)
    ramp(trend, 4.0e6, 1_000.0, 30)
    assert trend.project(5.0e6) is None


def test_thinning_and_window() -> None:
    trend = PowerTrend(window_ms=60_000, step_ms=5_000)
    ramp(trend, 0.0, 1.0, 600)
    points = list(trend._points)
    assert all(b[0] - a[0] >= 5_000 for a, b in itertools.pairwise(points))
    assert points[0][0] >= 600_000 - 60_000
