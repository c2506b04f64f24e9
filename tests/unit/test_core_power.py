"""Site power: latest per rack, out-of-order and duplicate readings, staleness."""

from __future__ import annotations

import pytest

from pipeline.core.power import MAX_STALE_NAMED, SitePower, Windows

STALE = Windows(15_000, 600_000, 86_400_000)  # stale after 15 s, held 10 min, forgotten 1 day


def test_total_is_sum_of_latest_per_rack() -> None:
    site = SitePower("atl-2")
    site.update("r1", 1_000, 100.0)
    site.update("r2", 1_000, 50.0)
    site.update("r1", 2_000, 120.0)
    snap = site.snapshot(now_ms=3_000, windows=STALE)
    assert (snap.total_w, snap.racks, snap.stale_racks, snap.newest_ms) == (170.0, 2, 0, 2_000)


@pytest.mark.parametrize(
    ("readings", "expected_w"),
    [
        ([(2_000, 120.0), (1_000, 999.0)], 120.0),  # older arrives late: ignored
        ([(2_000, 120.0), (2_000, 999.0)], 120.0),  # duplicate ts: first wins
        ([(1_000, 10.0), (3_000, 30.0), (2_000, 20.0)], 30.0),
    ],
)
def test_out_of_order_and_duplicates_never_move_backwards(
    readings: list[tuple[int, float]], expected_w: float
) -> None:
    site = SitePower("s")
    for ts, watts in readings:
        site.update("r1", ts, watts)
    assert site.snapshot(3_000, STALE).total_w == expected_w


def test_update_many_matches_update() -> None:
    a, b = SitePower("s"), SitePower("s")
    racks, ts, watts = ["r1", "r2", "r1", "r1"], [5, 5, 4, 6], [1.0, 2.0, 3.0, 4.0]
    applied = a.update_many(racks, ts, watts)
    for r, t, w in zip(racks, ts, watts, strict=True):
        b.update(r, t, w)
    assert applied == 3
    assert a.snapshot(10, STALE) == b.snapshot(10, STALE)


def test_stale_racks_are_excluded_counted_and_named() -> None:
    site = SitePower("s")
    site.update("r1", 100_000, 100.0)
    site.update("r2", 84_999, 50.0)  # 15.001 s old at now=100_000
    site.update("r3", 85_000, 25.0)  # exactly at the window edge: still fresh
    snap = site.snapshot(100_000, STALE)
    # r2 is silent: not reported, but counted at its last known power (held)
    assert (snap.draw.reported_w, snap.draw.estimated_w, snap.total_w) == (125.0, 50.0, 175.0)
    assert (snap.racks, snap.stale_racks, snap.stale_names) == (3, 1, ("r2",))


def test_stale_names_are_capped_but_count_is_exact() -> None:
    site = SitePower("s")
    for i in range(50):
        site.update(f"r{i:02d}", 0, 1.0)
    snap = site.snapshot(100_000, STALE)
    assert snap.stale_racks == 50 and len(snap.stale_names) == MAX_STALE_NAMED
    assert (snap.draw.reported_w, snap.draw.estimated_w) == (0.0, 50.0)


def test_forget_decommissioned_racks() -> None:
    site = SitePower("s")
    site.update("old", 0, 1.0)
    site.update("new", 50_000, 1.0)
    assert site.forget_older_than(10_000) == 1
    assert len(site) == 1
