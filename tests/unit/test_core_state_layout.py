"""Memory layout of the per-rack live state (issue 13): shared where values are equal."""

from __future__ import annotations

from pipeline.core.gpu import RackGpus


def test_racks_reporting_at_the_same_instants_share_their_bucket_starts() -> None:
    racks = [RackGpus(15_000) for _ in range(3)]
    for ts in (1_000, 6_000, 11_000, 16_000, 21_000):
        for gpus in racks:
            assert gpus.add(ts, 4, 40.0, 12.0, 3_000.0, 4_800.0, 0)
    starts = {id(gpus._start) for gpus in racks}
    assert len(starts) == 1  # one tuple for all: a pointer a rack, not an array each
    assert len({id(gpus.bucket_ms) for gpus in racks}) == 1
    # sharing is by value only: a rack that moves on does not move the others
    assert racks[0].add(26_000, 4, 40.0, 12.0, 3_000.0, 4_800.0, 0)
    assert racks[0].last_ms == 25_000 and racks[1].last_ms == 20_000
    assert racks[1].stats(21_000, 15_000) == racks[2].stats(21_000, 15_000)
    assert racks[0].stats(26_000, 15_000).samples == racks[1].stats(21_000, 15_000).samples


def test_a_late_sample_is_refused_as_before() -> None:
    gpus = RackGpus(15_000)
    assert gpus.add(100_000, 1, 50.0, 50.0, 900.0, 1_200.0, 0)
    assert gpus.add(120_000, 1, 50.0, 50.0, 900.0, 1_200.0, 0)  # same slot, newer bucket
    assert not gpus.add(100_000, 1, 50.0, 50.0, 900.0, 1_200.0, 0)
    assert gpus.stats(120_000, 15_000).samples == 1
