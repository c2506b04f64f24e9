"""Link counters: deltas, resets as new baselines, windowed loss ratio."""

from __future__ import annotations

import pytest

from pipeline.core.links import LinkState


def feed(state: LinkState, samples: list[tuple[int, int, int, int]]) -> list:
    return [state.observe(ts, tx, rx, dropped) for ts, tx, rx, dropped in samples]


def test_first_sample_is_a_baseline_and_deltas_follow() -> None:
    state = LinkState(window_ms=30_000)
    first, second = feed(state, [(0, 1_000, 990, 10), (1_000, 3_000, 2_980, 12)])
    assert first.baseline and not first.reset and first.loss_ratio is None
    assert (second.d_tx, second.d_rx, second.d_dropped, second.baseline) == (2_000, 1_990, 2, False)
    assert second.loss_ratio == pytest.approx(2 / 2_000)


def test_counter_going_down_is_a_reset_not_loss() -> None:
    state = LinkState(window_ms=30_000)
    out = feed(
        state,
        [
            (0, 1_000, 1_000, 0),
            (1_000, 2_000, 2_000, 0),
            (2_000, 50, 50, 0),
            (3_000, 1_050, 1_050, 1),
        ],
    )
    assert out[2].reset and out[2].baseline and out[2].d_dropped == 0
    assert state.resets == 1
    # loss over the window: 1 dropped of (1000 before reset + 1000 after)
    assert out[3].loss_ratio == pytest.approx(1 / 2_000)


def test_dropped_counter_reset_alone_is_a_reset() -> None:
    state = LinkState(window_ms=30_000)
    out = feed(state, [(0, 100, 100, 50), (1_000, 200, 200, 3)])
    assert out[1].reset and out[1].d_dropped == 0


def test_late_and_duplicate_samples_change_nothing() -> None:
    state = LinkState(window_ms=30_000)
    feed(state, [(0, 0, 0, 0), (2_000, 1_000, 1_000, 1)])
    late, dup = feed(state, [(1_000, 500, 500, 500), (2_000, 9_999, 9_999, 9_999)])
    assert late.late and dup.late
    assert state.last == (1_000, 1_000, 1) and state.loss() == pytest.approx(1e-3)


def test_window_expires_old_deltas() -> None:
    state = LinkState(window_ms=30_000)
    feed(state, [(0, 0, 0, 0), (1_000, 1_000, 1_000, 100)])  # a burst at t=1 s
    quiet = [(t, t, t, 100) for t in range(2_000, 40_000, 1_000)]  # 1000 packets/s, no drops
    out = feed(state, quiet)
    assert out[0].loss_ratio == pytest.approx(100 / 2_000)
    assert out[-1].loss_ratio == 0.0  # the burst left the 30 s window
    # the window (9 s, 39 s] resolved to 5 s buckets: 30 deltas plus 5..9 s, one bucket more
    assert state.window_tx == 35_000


def test_a_burst_leaves_within_one_bucket_after_the_window() -> None:
    state = LinkState(window_ms=30_000)  # buckets of 5 s
    feed(state, [(0, 0, 0, 0), (2_000, 1_000, 1_000, 100)])
    tail = feed(state, [(t, t, t, 100) for t in range(3_000, 40_000, 1_000)])
    at = {t: d.loss_ratio for t, d in zip(range(3_000, 40_000, 1_000), tail, strict=True)}
    assert at[31_000] and at[31_000] > 0  # 2 s is still inside (1 s, 31 s]
    assert at[35_000] == 0.0  # the 0-5 s bucket ended 30 s before: gone


def test_no_traffic_means_no_ratio() -> None:
    state = LinkState(window_ms=30_000)
    out = feed(state, [(0, 5, 5, 0), (1_000, 5, 5, 0)])
    assert out[1].loss_ratio is None
