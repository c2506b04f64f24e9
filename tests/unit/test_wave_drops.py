"""Load drops and fleet incidents: the definition checked against a plain loop, the
streaming detector against the batch one, and sites of one region grouped within 1 s."""

from __future__ import annotations

import random
from itertools import pairwise

import numpy as np
import pytest

from pipeline.core.wave.align import AlignConfig
from pipeline.core.wave.drops import Drop, DropConfig, DropDetector, find_drops
from pipeline.core.wave.incidents import IncidentBook, group_drops
from pipeline.core.wave.site import WaveSettings, WaveSite

T0 = 1_785_168_000_000
STEP = 50


def site_with_loss(
    site: str, region: str, drop_at_s: float, lost: float, seconds: int = 20, seed: int = 0
) -> list[Drop]:
    """30 meters of 2 MW each (with 0.3 % noise) that lose ``lost`` of their load at
    ``drop_at_s`` and stay there; the drops the site stage reports."""
    rng = np.random.default_rng(seed)
    stage = WaveSite(
        site,
        WaveSettings(align=AlignConfig(step_ms=STEP, lateness_ms=500, hold_ms=5000)),
        region=region,
    )
    found: list[Drop] = []
    for second in range(seconds):
        t = second + STEP * np.arange(20) / 1000
        level = np.where(t >= drop_at_s, 1 - lost, 1.0) * 2e6
        for m in range(30):
            values = level * (1 + 0.003 * rng.standard_normal(20))
            stage.add(f"m{m}", T0 + second * 1000, STEP, values.tolist())
        tick = stage.tick(T0 + (second + 1) * 1000 + 500)
        found += tick.drops if tick else []
    return found


def test_a_40_percent_drop_is_detected_when_it_happens() -> None:
    drops = site_with_loss("atl-1", "east", drop_at_s=12.3, lost=0.4)
    assert len(drops) == 1
    drop = drops[0]
    assert drop.at_ms == T0 + 12_300  # the first cell at the lower level
    assert drop.before_w == pytest.approx(60e6, rel=0.01)
    assert drop.after_w == pytest.approx(36e6, rel=0.01)
    assert drop.lost_ratio == pytest.approx(0.4, abs=0.01)
    assert drop.region == "east" and drop.site == "atl-1"


def test_a_15_percent_drop_is_not_a_20_percent_drop() -> None:
    assert site_with_loss("atl-1", "east", drop_at_s=12.3, lost=0.15) == []


def test_a_training_swing_is_not_a_drop_but_a_checkpoint_is() -> None:
    t = np.arange(0, 30, 0.05)
    swing = 1e7 * (1 + 0.2 * np.sin(2 * np.pi * 0.5 * t))  # 33 % peak to trough, 1 s apart
    assert find_drops(swing, T0, STEP, DropConfig(), "s") == []
    checkpoint = np.where((t >= 10) & (t < 31), 0.28, 1.0) * 1e7  # the trace's 72 % drop
    found = find_drops(checkpoint, T0, STEP, DropConfig(), "s")
    assert [(d.at_ms, round(d.lost_ratio, 2)) for d in found] == [(T0 + 10_000, 0.72)]


def plain_drops(x: np.ndarray, ratio: float, window: int, sustain: int) -> list[int]:
    """The definition, cell by cell."""
    out: list[int] = []
    ready = 0
    for t in range(window, len(x) - sustain):
        back, ahead = x[t - window : t + 1], x[t : t + sustain + 1]
        if t < ready or np.isnan(back).any() or np.isnan(ahead).any():
            continue  # an unknown cell neither makes nor confirms a drop
        ref = float(np.max(back))
        if ref > 0 and float(np.max(ahead)) <= (1 - ratio) * ref:
            out.append(t)
            ready = t + window + sustain
    return out


def test_find_drops_is_the_definition_and_streaming_finds_the_same() -> None:
    rng = np.random.default_rng(3)
    config = DropConfig(ratio=0.25, window_s=1.0, sustain_s=0.5)
    for trial in range(30):
        # a random walk with sudden falls and rises, and a few unknown cells
        x = 1e6 * np.exp(np.cumsum(rng.normal(0, 0.02, 600)))
        for at in rng.integers(0, 600, 6):
            x[at:] *= rng.choice([0.5, 0.7, 1.4, 1.8])
        x[rng.integers(0, 600, 5)] = np.nan
        expected = plain_drops(x, 0.25, 20, 10)
        batch = find_drops(x, T0, STEP, config, "s")
        assert [(d.at_ms - T0) // STEP for d in batch] == expected, trial
        detector = DropDetector("s", STEP, config)
        streamed: list[Drop] = []
        cuts = sorted({0, 600, *rng.integers(1, 600, 8).tolist()})
        for a, b in pairwise(cuts):
            streamed += detector.push(T0 + a * STEP, x[a:b])
        assert streamed == batch, trial


def test_unknown_cells_never_make_a_drop() -> None:
    x = np.full(200, 1e6)
    x[100:] = np.nan  # the meters went silent: unknown, not zero
    assert find_drops(x, T0, STEP, DropConfig(), "s") == []
    detector = DropDetector("s", STEP)
    assert detector.push(T0, x[:100]) == []
    assert detector.push(T0 + 150 * STEP, np.full(50, 2e5)) == []  # a gap before it: unknown


# --- fleet incidents ---------------------------------------------------------------------
def drop(site: str, at_s: float, region: str | None = "east") -> Drop:
    return Drop(site, T0 + int(at_s * 1000), T0 + int(at_s * 1000) - 500, 1e8, 6e7, region)


def test_drops_within_1_s_of_the_first_are_one_incident() -> None:
    drops = [drop("a", 0), drop("b", 0.6), drop("c", 1.0), drop("d", 3.0), drop("x", 0.2, "west")]
    incidents = group_drops(drops)
    assert [(i.region, i.sites) for i in incidents] == [
        ("east", ("a", "b", "c")),
        ("west", ("x",)),
        ("east", ("d",)),
    ]
    assert [i.fleet for i in incidents] == [True, False, False]
    assert incidents[0].lost_w == pytest.approx(3 * 4e7)
    assert incidents[0].timeline() == [
        "+0.00 s  a: 100.0 MW -> 60.0 MW (-40%)",
        "+0.60 s  b: 100.0 MW -> 60.0 MW (-40%)",
        "+1.00 s  c: 100.0 MW -> 60.0 MW (-40%)",
    ]


def test_groups_are_anchored_not_chained_and_regionless_sites_stay_alone() -> None:
    chained = [drop("a", 0), drop("b", 0.9), drop("c", 1.8), drop("d", 2.7)]
    assert [i.sites for i in group_drops(chained)] == [("a", "b"), ("c", "d")]
    alone = [drop("a", 0, None), drop("b", 0.1, None)]
    assert [i.sites for i in group_drops(alone)] == [("a",), ("b",)]


def test_the_book_closes_the_same_incidents_whatever_the_arrival_order() -> None:
    rng = random.Random(5)
    drops = [
        drop(f"s{i}", rng.uniform(0, 60), rng.choice(["east", "west", None])) for i in range(80)
    ]
    lateness = 4000
    arrivals = sorted(drops, key=lambda d: d.at_ms + rng.uniform(0, lateness))
    book = IncidentBook(within_ms=1000, lateness_ms=lateness)
    closed = []
    now = T0
    for d in arrivals:
        now = max(now, d.at_ms)
        book.add(d)
        closed += book.close(now)
    closed += book.close(T0 + 10**6)
    key = [(i.region, i.start_ms, i.sites) for i in group_drops(drops)]
    assert sorted([(i.region, i.start_ms, i.sites) for i in closed], key=str) == sorted(
        key, key=str
    )


@pytest.mark.parametrize(("apart_s", "incidents"), [(0.6, 1), (3.0, 2)])
def test_two_sites_of_one_region_dropping_together_make_one_fleet_incident(
    apart_s: float, incidents: int
) -> None:
    drops = site_with_loss("atl-1", "east", 10.0, 0.4) + site_with_loss(
        "atl-2", "east", 10.0 + apart_s, 0.5, seed=1
    )
    assert len(drops) == 2
    found = group_drops(drops)
    assert len(found) == incidents
    assert found[0].fleet == (incidents == 1)
    if incidents == 1:
        assert found[0].sites == ("atl-1", "atl-2")
        assert found[0].lost_w == pytest.approx(0.4 * 60e6 + 0.5 * 60e6, rel=0.01)
