"""Outbox offsets: only the contiguous done prefix of a partition is committable."""

from __future__ import annotations

import pytest

from pipeline.notify.offsets import OffsetLedger, PartitionLedger


def test_commit_point_waits_for_the_oldest_alert() -> None:
    ledger = PartitionLedger()
    done = {offset: ledger.add(offset) for offset in (10, 11, 12, 15)}
    assert ledger.next_offset is None
    done[11]()
    done[12]()
    assert ledger.next_offset is None  # 10 still owed by some receiver
    done[10]()
    assert ledger.next_offset == 13
    done[15]()
    assert ledger.next_offset == 16
    assert len(ledger) == 0


def test_done_twice_or_unknown_is_harmless() -> None:
    ledger = PartitionLedger()
    first = ledger.add(0)
    ledger.add(1)
    first()
    first()
    ledger.done(99)
    assert ledger.next_offset == 1
    assert len(ledger) == 1


def test_offsets_must_increase() -> None:
    ledger = PartitionLedger()
    ledger.add(5)
    with pytest.raises(ValueError, match="not after"):
        ledger.add(5)


def test_to_commit_reports_moves_once_and_drop_forgets() -> None:
    ledger = OffsetLedger()
    a0, b0 = ledger.add("a", 0), ledger.add("b", 7)
    ledger.add("a", 1)
    assert ledger.to_commit() == {}
    a0()
    b0()
    assert ledger.to_commit() == {"a": 1, "b": 8}
    assert ledger.to_commit(only={"b"}) == {"b": 8}
    ledger.mark_committed({"a": 1, "b": 8})
    assert ledger.to_commit() == {}
    assert ledger.in_flight == 1
    ledger.drop({"a"})
    assert ledger.in_flight == 0
    late = ledger.add("a", 3)  # re-assigned later: a fresh ledger
    late()
    assert ledger.to_commit() == {"a": 4}
