"""GPU load per rack and the power limit of known models."""

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


def test_rack_stats() -> None:
    rack = RackGpus()
    rack.update("h1", "0", 1_000, 90.0, 600.0, 700.0)
    rack.update("h1", "1", 1_000, 10.0, 200.0, 700.0)
    rack.update("h1", "1", 500, 99.0, 999.0, 700.0)  # older: ignored
    stats = rack.stats(now_ms=2_000, stale_after_ms=15_000)
    assert (stats.gpus, stats.mean_util_pct, stats.max_util_pct) == (2, 50.0, 90.0)
    assert stats.power_w == 800.0 and stats.limit_w == 1400.0
    assert stats.w_per_util_pt == pytest.approx(8.0)
    assert not stats.idle


def test_idle_rack_and_unknown_limit() -> None:
    rack = RackGpus()
    rack.update("h1", "0", 1_000, 1.0, 300.0, 700.0)
    rack.update("h1", "1", 1_000, 2.0, 300.0, None)
    stats = rack.stats(2_000, 15_000)
    assert stats.idle and stats.limit_w is None and stats.power_share is None


def test_stale_gpus_do_not_count() -> None:
    rack = RackGpus()
    rack.update("h1", "0", 0, 50.0, 500.0, 700.0)
    assert rack.stats(20_000, 15_000).gpus == 0
