"""Blocks of shards combined into their site: the sums of one aligner over every meter,
a late shard held at its last values (never zero), then unknown; a replay counted once."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pipeline.core.domains import DomainTree
from pipeline.core.wave.align import AlignConfig, AlignedBlock, WaveAligner, domain_lineage
from pipeline.core.wave.combine import BlockCombiner
from pipeline.events import PowerDomain

T0 = 1_785_168_000_000
STEP = 50
CONFIG = AlignConfig(step_ms=STEP, lateness_ms=500, hold_ms=1000)
DOMAINS = (
    PowerDomain(name="hall-a", cap_mw=10, racks=("a*",)),
    PowerDomain(name="hall-b", cap_mw=10, racks=("b*",)),
    PowerDomain(name="feed", cap_mw=20, children=("hall-a", "hall-b")),
)


def tree() -> DomainTree:
    return DomainTree("s", DOMAINS, 0.9)


def names(t: DomainTree) -> tuple[str, ...]:
    return tuple(d.limits.domain or "" for d in t.domains)


def aligner() -> WaveAligner:
    t = tree()
    return WaveAligner(CONFIG, domain_lineage(t), len(t))


def test_shards_combined_are_one_aligner_over_every_meter() -> None:
    rng = np.random.default_rng(4)
    meters = [f"{'ab'[i % 2]}{i}" for i in range(24)]
    shard_of = {m: f"row{i % 3}" for i, m in enumerate(meters)}
    whole = aligner()
    shards = {s: aligner() for s in set(shard_of.values())}
    combiner = BlockCombiner(STEP, names(tree()), wait_ms=10_000, hold_ms=1000)
    offsets = rng.integers(0, 100, len(meters))
    got: list[AlignedBlock] = []
    want: list[AlignedBlock] = []
    for second in range(6):
        for meter, offset in zip(meters, offsets, strict=True):
            if meter == "a4" and second in (2, 3):
                continue  # a silent meter: held inside its own shard, then unknown
            ts = T0 + second * 1000 + int(offset)
            values = rng.uniform(1e4, 2e4, 10).tolist()
            whole.add(meter, ts, 100, values)
            shards[shard_of[meter]].add(meter, ts, 100, values)
        now = T0 + (second + 1) * 1000 + 500
        block = whole.advance(now)
        if block is not None:
            want.append(block)
        for shard, shard_aligner in sorted(shards.items()):
            part = shard_aligner.advance(now)
            if part is not None:
                combiner.add(shard, part, names(tree()), now)
        combined = combiner.close(now)
        if combined is not None:
            got.append(combined)
    a, b = _joined(want), _joined(got)
    assert a.start_ms == b.start_ms and len(a) == len(b) > 80
    for field in ("total_w", "held_w", "domain_w", "domain_held_w"):
        np.testing.assert_allclose(getattr(b, field), getattr(a, field), rtol=1e-12)
    for field in ("measured", "held", "unknown", "domain_unknown"):
        np.testing.assert_array_equal(getattr(b, field), getattr(a, field))
    assert a.held.max() == 1  # the silent meter was there, held


def test_a_late_shard_is_held_at_its_last_values_then_unknown_never_zero() -> None:
    combiner = BlockCombiner(STEP, (), wait_ms=2000, hold_ms=500)
    combiner.add("a", block(T0, [10.0] * 20, meters=2), (), 0)
    combiner.add("b", block(T0, [5.0] * 20, meters=3), (), 0)
    first = combiner.close(T0 + 1000)  # every part has the first second: no wait
    assert first is not None and first.total_w.tolist() == [15.0] * 20
    # b falls silent; a goes on. (The caller closes at min(clock, newest event time).)
    for second in (1, 2, 3):
        combiner.add("a", block(T0 + second * 1000, [10.0] * 20, meters=2), (), 0)
        assert combiner.newest_ms == T0 + (second + 1) * 1000
    assert combiner.close(T0 + 2500) is None  # within the wait: b may still come
    held = combiner.close(T0 + 4000)  # 2 s behind a's newest: second 1 closes without b
    assert held is not None and len(held) == 20
    hold = 500 // STEP
    assert held.total_w.tolist() == [15.0] * hold + [10.0] * (20 - hold)  # never 0 for b
    assert held.held_w.tolist() == [5.0] * hold + [0.0] * (20 - hold)
    assert held.held.tolist() == [3] * hold + [0] * (20 - hold)
    assert held.unknown.tolist() == [0] * hold + [3] * (20 - hold)  # its meters unknown
    assert np.isnan(held.site_series()[hold:]).all()  # so nothing reads a partial sum


def test_cells_after_their_close_and_replays_are_dropped_and_counted() -> None:
    combiner = BlockCombiner(STEP, (), wait_ms=0, hold_ms=10_000)
    combiner.add("a", block(T0, [1.0] * 20), (), 0)
    assert combiner.close(T0 + 1000) is not None
    assert combiner.add("a", block(T0, [1.0] * 20), (), 0) == 20  # a replay
    assert combiner.add("b", block(T0 + 500, [2.0] * 20), (), 0) == 10  # half of it late
    assert combiner.late_cells == 30
    rest = combiner.close(T0 + 1500)
    assert rest is not None and rest.total_w.tolist() == [1.0 + 2.0] * 10


def test_an_expected_part_never_heard_from_leaves_the_sum_unknown() -> None:
    combiner = BlockCombiner(STEP, (), wait_ms=0)
    combiner.expect({"site-1", "site-2"})
    combiner.add("site-1", block(T0, [7.0] * 20), (), 0)
    out = combiner.close(T0 + 1000)
    assert out is not None and (out.unknown == 1).all()
    assert np.isnan(out.site_series()).all()  # a region is not measured on half its sites


def test_domains_travel_by_name() -> None:
    combiner = BlockCombiner(STEP, ("x", "y"), wait_ms=0)
    part = block(T0, [3.0] * 20, domains=np.array([[1.0] * 20, [2.0] * 20]))
    combiner.add("a", part, ("y", "z"), 0)  # y is our second row; z we do not know
    out = combiner.close(T0 + 1000)
    assert out is not None
    assert out.domain_w[0].tolist() == [0.0] * 20 and out.domain_w[1].tolist() == [1.0] * 20


def block(
    start_ms: int, total: list[float], meters: int = 1, domains: np.ndarray | None = None
) -> AlignedBlock:
    n = len(total)
    d = np.zeros((0, n)) if domains is None else domains
    return AlignedBlock(
        start_ms,
        STEP,
        np.array(total),
        np.zeros(n),
        np.full(n, meters, np.int64),
        np.zeros(n, np.int64),
        np.zeros(n, np.int64),
        d,
        np.zeros_like(d),
        np.zeros(d.shape, np.int64),
        samples=n,
        late=0,
        domain_meters=np.ones(len(d), np.int64),
    )


def _joined(blocks: list[AlignedBlock]) -> AlignedBlock:
    for before, after in itertools.pairwise(blocks):
        assert after.start_ms == before.start_ms + STEP * len(before)

    def cat(name: str, axis: int = 0) -> np.ndarray:
        return np.concatenate([getattr(b, name) for b in blocks], axis=axis)

    return AlignedBlock(
        blocks[0].start_ms,
        STEP,
        cat("total_w"),
        cat("held_w"),
        cat("measured"),
        cat("held"),
        cat("unknown"),
        cat("domain_w", 1),
        cat("domain_held_w", 1),
        cat("domain_unknown", 1),
        sum(b.samples for b in blocks),
        sum(b.late for b in blocks),
    )


@pytest.mark.parametrize("step", [49, 51])
def test_a_block_on_another_grid_is_refused(step: int) -> None:
    combiner = BlockCombiner(STEP)
    other = block(T0, [1.0])
    wrong = AlignedBlock(**{**{f: getattr(other, f) for f in other.__slots__}, "step_ms": step})
    with pytest.raises(ValueError, match=f"on {step} ms, not 50 ms"):
        combiner.add("a", wrong, (), 0)
