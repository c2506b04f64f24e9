"""Demand-response events: the contract's checks, the worker's book of control.dr, the
cancel rules, and the wave records between workers (exact round trips, one-line errors)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from pipeline.core.wave.align import AlignedBlock
from pipeline.core.wave.codec import (
    BlockRecord,
    WaveRecordError,
    decode,
    encode_block,
    encode_drop,
)
from pipeline.core.wave.demand import BASELINE_RETRY_MS, DemandBook, dr_event
from pipeline.core.wave.drops import Drop
from pipeline.demand.control import cancelled
from pipeline.errors import ConfigError
from pipeline.events import DemandResponse

T0 = 1_785_168_000_000


def event(**fields: object) -> DemandResponse:
    base = {"id": "e1", "site": "s", "start_ts": T0, "end_ts": T0 + 3_600_000, "ceiling_mw": 80}
    return DemandResponse.model_validate({**base, **fields})


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"region": "east"}, "give site or region, not both"),
        ({"site": None}, "give site or region, not both"),
        ({"reduction_pct": 25}, "give ceiling_mw or reduction_pct, not both"),
        ({"end_ts": T0}, "end_ts must be after start_ts"),
        ({"reduction_pct": 100, "ceiling_mw": None}, "less than 100"),
        ({"id": "a b"}, "should match pattern"),
    ],
)
def test_a_bad_event_is_refused_with_its_reason(fields: dict[str, object], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        event(**fields)


def test_the_book_keeps_the_last_record_per_id_and_forgets_on_null() -> None:
    book = DemandBook()
    assert book.apply("e1", event().model_dump_json().encode()) is None
    assert book.apply("bad", b'{"id": "bad"}').startswith("control.dr record 'bad' is no DR")
    assert book.invalid == 1 and list(book.events) == ["e1"]
    assert [e.id for e in book.of_site("s")] == ["e1"] and book.of_region("s") == []
    book.apply("e1", None)
    assert book.events == {}


def test_a_baseline_is_asked_for_near_the_start_and_again_after_a_while() -> None:
    book, spec = DemandBook(), event()
    book.apply("e1", spec.model_dump_json().encode())
    assert book.wanted(spec, ["s"], T0 - 2 * 3_600_000) is None  # too early
    request = book.wanted(spec, ["s"], T0 - 1000)
    assert request is not None and request.sites == ("s",)
    assert book.wanted(spec, ["s"], T0) is None  # being loaded
    assert book.wanted(spec, ["s"], T0 - 1000 + BASELINE_RETRY_MS) is not None  # lost: again
    assert np.isnan(book.baseline_w("e1", T0, 50, 3)).all()


def test_cancel_ends_an_event_under_way_forgets_one_to_come_refuses_one_over() -> None:
    spec = event()
    cut = cancelled(spec, T0 + 1000)
    assert cut is not None and cut.end_ts == T0 + 1000 and cut.cancelled
    assert cancelled(spec, T0 - 1) is None
    with pytest.raises(ConfigError, match="DR event e1 ended already"):
        cancelled(spec, T0 + 3_600_000)
    measured = dr_event(event(region="east", site=None, ceiling_mw=None, reduction_pct=10))
    assert measured.region and measured.scope == "east" and measured.reduction_pct == 10


def test_blocks_and_drops_round_trip_exactly() -> None:
    rng = np.random.default_rng(3)
    n = 7
    block = AlignedBlock(
        T0,
        50,
        rng.uniform(0, 1e7, n),
        rng.uniform(0, 1e5, n),
        rng.integers(0, 99, n),
        rng.integers(0, 9, n),
        rng.integers(0, 9, n),
        rng.uniform(0, 1e6, (2, n)),
        rng.uniform(0, 1e4, (2, n)),
        rng.integers(0, 5, (2, n)),
        samples=140,
        late=3,
        domain_meters=np.array([4, 5]),
    )
    back = decode(encode_block(BlockRecord("s", "row1", block, ("h1", "h2"))))
    assert isinstance(back, BlockRecord) and (back.site, back.part) == ("s", "row1")
    assert back.domains == ("h1", "h2") and back.region is None
    for name in block.__slots__:
        got, want = getattr(back.block, name), getattr(block, name)
        assert np.array_equal(got, want), name  # floats exactly: sums agree across workers
    drop = Drop("s", T0, T0 - 800, 9.5e6, 5.25e6, "east")
    assert decode(encode_drop(drop)) == drop


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "empty value"),
        (b"{", "not JSON"),
        (b'{"v": 9}', "not a wave record of version 1"),
        (b'{"v": 1, "kind": "x"}', "unknown kind 'x'"),
        (b'{"v": 1, "kind": "block", "site": "s"}', "malformed wave record: KeyError"),
        (
            b'{"v":1,"kind":"block","site":"s","part":"","start":0,"step":50,"total":[1],'
            b'"held_w":[1,2],"measured":[1],"held":[0],"unknown":[0]}',
            "2 values for 1 cells",
        ),
    ],
)
def test_an_unreadable_record_says_why_in_one_line(raw: bytes | None, reason: str) -> None:
    with pytest.raises(WaveRecordError, match=reason):
        decode(raw)


def test_a_changed_event_measured_here_is_written_again() -> None:
    from pipeline.core.wave.demand import BaselineFound, BaselineRequest

    book, spec = DemandBook(), event()
    book.apply("e1", spec.model_dump_json().encode())
    book.apply("e1", spec.model_dump_json().encode())  # the same again: nothing
    assert book.changed == set()
    book.set_baseline("e1", BaselineFound(np.ones(3), T0, 60_000, "m"))
    cut = cancelled(spec, T0 + 1000)
    assert cut is not None
    book.apply("e1", cut.model_dump_json().encode())
    assert book.changed == {"e1"}
    assert BaselineRequest(cut, ("s",)).event.end_ts == T0 + 1000
