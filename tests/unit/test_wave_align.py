"""Event-time alignment of power waves: a common grid, late meters held, silent ones unknown.

Every expectation is computed here, by hand or with plain numpy loops, not by the
aligner's own vectorised path."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.core.domains import DomainTree
from pipeline.core.wave.align import AlignConfig, WaveAligner, domain_lineage
from pipeline.events import PowerDomain

T0 = 1_785_168_000_000  # on the 50 ms grid


def aligner(hold_ms: int = 10_000, lateness_ms: int = 0, **kw) -> WaveAligner:
    return WaveAligner(AlignConfig(step_ms=50, lateness_ms=lateness_ms, hold_ms=hold_ms), **kw)


def test_meters_of_different_starts_and_intervals_land_on_one_grid() -> None:
    a = aligner(hold_ms=200)
    a.add("fast", T0, 20, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])  # 50 Hz: averaged per cell
    a.add("grid", T0, 50, [100, 200, 300, 400])  # on the grid
    a.add("slow", T0 + 30, 100, [1000, 2000])  # 10 Hz, 30 ms late in phase
    block = a.advance(T0 + 400)
    assert block is not None
    assert block.start_ms == T0 and len(block) == 8
    # cell 0: fast (1+2+3)/3, grid 100, slow 1000 (its sample at +30 ms is in cell 0)
    # cell 1: fast (4+5)/2,   grid 200, slow 1000 (the sample stands until +130 ms)
    # cell 2: fast (6+7+8)/3, grid 300, slow 2000; cell 3: fast 9.5, grid 400, slow 2000
    expected = [2 + 100 + 1000, 4.5 + 200 + 1000, 7 + 300 + 2000, 9.5 + 400 + 2000]
    assert block.total_w[:4].tolist() == pytest.approx(expected)
    assert block.measured[:4].tolist() == [3, 3, 3, 3]
    assert block.held_w[:4].tolist() == [0, 0, 0, 0]


def test_a_late_meter_is_held_at_its_last_value_never_zero_then_unknown() -> None:
    a = aligner(hold_ms=500)
    a.add("r1", T0, 50, [100.0] * 40)  # 2 s of samples
    a.add("r2", T0, 50, [50.0] * 10)  # stops after 0.5 s
    block = a.advance(T0 + 2000)
    assert block is not None and len(block) == 40
    # r2 measured for 10 cells, held 10 cells (500 ms), unknown after
    assert block.total_w[:10].tolist() == [150.0] * 10
    assert block.total_w[10:20].tolist() == [150.0] * 10  # held: never read as zero
    assert block.held_w[10:20].tolist() == [50.0] * 10  # and reported as estimated
    assert block.held[10:20].tolist() == [1] * 10
    assert block.unknown[20:].tolist() == [1] * 20
    assert block.total_w[20:].tolist() == [100.0] * 20  # the sum of what is known...
    assert np.isnan(block.site_series()[20:]).all()  # ...which features do not read
    assert block.site_series()[:20].tolist() == [150.0] * 20


def test_a_meter_that_catches_up_within_the_lateness_is_measured() -> None:
    a = aligner(lateness_ms=2000)
    a.add("r1", T0, 50, [10.0] * 20)
    assert a.advance(T0 + 1000) is None  # nothing older than now - lateness yet
    a.add("r2", T0, 50, [5.0] * 20)  # arrives 1 s late, within the 2 s lateness
    block = a.advance(T0 + 3000)
    assert block is not None
    assert block.total_w[:20].tolist() == [15.0] * 20
    assert block.held_w.sum() == 0 and block.samples == 40 and block.late == 0


def test_samples_for_closed_cells_are_counted_late_and_not_aggregated() -> None:
    a = aligner()
    a.add("r1", T0, 50, [10.0] * 20)
    first = a.advance(T0 + 1000)
    assert first is not None and first.samples == 20
    a.add("r2", T0, 50, [5.0] * 40)  # half of it for cells already closed
    second = a.advance(T0 + 2000)
    assert second is not None
    assert second.late == 20 and second.samples == 20
    assert first.samples + second.samples + second.late == 20 + 40  # samples in = out
    assert a.pending == 0


def test_blocks_continue_one_another_and_carry_values_across() -> None:
    a = aligner(hold_ms=1000)
    a.add("r1", T0, 100, [7.0] * 5)  # 0.5 s at 10 Hz
    first = a.advance(T0 + 300)
    second = a.advance(T0 + 900)
    assert first is not None and second is not None
    assert second.start_ms == first.start_ms + 50 * len(first)
    both = np.concatenate([first.total_w, second.total_w])
    assert both.tolist() == [7.0] * 18
    assert np.concatenate([first.measured, second.measured]).tolist() == [1] * 10 + [0] * 8


def test_redelivered_samples_average_with_themselves() -> None:
    a = aligner()
    a.add("r1", T0, 50, [10.0, 20.0])
    a.add("r1", T0, 50, [10.0, 20.0])  # at-least-once: the same event again
    block = a.advance(T0 + 100)
    assert block is not None and block.total_w.tolist() == [10.0, 20.0]


def test_domains_sum_their_racks_and_their_children() -> None:
    domains = (
        PowerDomain(name="feed", cap_mw=2, children=("h1", "h2")),
        PowerDomain(name="h1", cap_mw=1, racks=("h1-*",)),
        PowerDomain(name="h2", cap_mw=1, racks=("h2-*",)),
    )
    tree = DomainTree("s", domains, 0.9)
    names = [tree_name(tree, i) for i in range(len(tree))]
    a = aligner(hold_ms=0, lineage=domain_lineage(tree), domains=len(tree))
    a.add("h1-a", T0, 50, [1.0, 1.0])
    a.add("h1-b", T0, 50, [2.0, 2.0])
    a.add("h2-a", T0, 50, [4.0])  # silent after one sample, no hold: unknown
    a.add("other", T0, 50, [8.0, 8.0])  # in no domain: the site only
    block = a.advance(T0 + 100)
    assert block is not None
    by_name = {name: block.domain_w[i].tolist() for i, name in enumerate(names)}
    assert by_name == {"h1": [3.0, 3.0], "h2": [4.0, 0.0], "feed": [7.0, 3.0]}
    unknown = {name: block.domain_unknown[i].tolist() for i, name in enumerate(names)}
    assert unknown == {"h1": [0, 0], "h2": [0, 1], "feed": [0, 1]}
    assert block.total_w.tolist() == [15.0, 11.0]


def tree_name(tree: DomainTree, index: int) -> str:
    return tree.domains[index].limits.domain or ""


def test_random_meters_match_a_plain_loop() -> None:
    """Many meters, random phases and intervals, late and silent ones, several ticks:
    the vectorised result equals a per-meter, per-cell loop of the definition."""
    rng = np.random.default_rng(4)
    step, hold, lateness = 50, 600, 1000
    a = aligner(hold_ms=hold, lateness_ms=lateness)
    meters = []
    for i in range(30):
        interval = int(rng.choice([20, 50, 100, 250]))
        start = T0 + int(rng.integers(0, 300))
        stop_after = int(rng.integers(5, 80)) if i % 5 == 0 else 10**6  # some go silent
        meters.append((f"m{i}", start, interval, stop_after))
    sent: dict[str, list[tuple[int, float]]] = {m[0]: [] for m in meters}
    blocks = []
    for tick in range(8):  # each meter sends its samples of [tick s, tick+1 s)
        for name, start, interval, stop_after in meters:
            times = [
                t
                for t in range(start, T0 + (tick + 1) * 1000, interval)
                if t >= T0 + tick * 1000 and (t - start) // interval < stop_after
            ]
            if not times:
                continue
            values = rng.uniform(1e4, 1e5, len(times)).round(1).tolist()
            sent[name] += list(zip(times, values, strict=True))
            a.add(name, times[0], interval, values)
        block = a.advance(T0 + (tick + 1) * 1000 + 5)
        if block is not None:
            blocks.append(block)
    start_cell = blocks[0].start_ms // step
    cells = sum(len(b) for b in blocks)
    total = np.concatenate([b.total_w for b in blocks])
    held_w = np.concatenate([b.held_w for b in blocks])
    unknown = np.concatenate([b.unknown for b in blocks])
    for j in range(cells):
        k = start_cell + j
        want_total = want_held = 0.0
        want_unknown = 0
        for name, _start, interval, _stop in meters:
            before = [(t, v) for t, v in sent[name] if t // step <= k]
            if not before:
                want_unknown += 1
                continue
            last_cell = before[-1][0] // step
            value = np.mean([v for t, v in before if t // step == last_cell])
            covered = max(last_cell + 1, (before[-1][0] + interval) // step)
            if k < covered:
                want_total += value
            elif k < covered + hold // step:
                want_total += value
                want_held += value
            else:
                want_unknown += 1
        assert total[j] == pytest.approx(want_total), j
        assert held_w[j] == pytest.approx(want_held), j
        assert unknown[j] == want_unknown, j


def test_config_bounds() -> None:
    with pytest.raises(ValueError, match="step_ms"):
        AlignConfig(step_ms=5)
    with pytest.raises(ValueError):
        AlignConfig(hold_ms=-1)
