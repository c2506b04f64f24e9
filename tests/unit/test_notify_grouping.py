"""Grouping and reminders: one notification per site and rule, order kept per fingerprint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline.events import Alert
from pipeline.notify.grouping import GroupBuffer
from pipeline.notify.notification import GroupKey, Pending
from pipeline.notify.reminders import FiringSet

START = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def alert(n: int, **changes: object) -> Alert:
    base = {
        "fingerprint": f"{n:016x}",
        "rule": "rack_power",
        "severity": "warning",
        "status": "firing",
        "site": "fra1",
        "value": 1.0,
        "threshold": 0.9,
        "starts_at": START,
        "summary": "rack over budget",
        "rack": f"r{n}",
    }
    return Alert.model_validate(base | changes)


def test_alerts_of_one_site_and_rule_share_a_group() -> None:
    done: list[int] = []
    buf = GroupBuffer("rx", max_alerts=3)
    first = buf.add(Pending(alert(1), lambda: done.append(1)))
    assert first.opened and first.flushed is None
    for n in range(2, 6):
        assert not buf.add(Pending(alert(n), lambda n=n: done.append(n))).opened
    other = buf.add(Pending(alert(9, site="ams2")))
    assert other.opened and other.key == GroupKey("ams2", "rack_power")
    n = buf.flush(first.key, first.generation)
    assert n is not None
    assert [a.rack for a in n.listed] == ["r1", "r2", "r3"]
    assert n.truncated == 2
    assert len(buf) == 1
    n.complete()
    n.complete()  # once only
    assert done == [1, 2, 3, 4, 5]


def test_next_event_of_a_fingerprint_flushes_its_group_first() -> None:
    buf = GroupBuffer("rx", max_alerts=10)
    opened = buf.add(Pending(alert(1)))
    buf.add(Pending(alert(2)))
    again = buf.add(Pending(alert(1, status="resolved", seq=1)))
    assert again.flushed is not None
    assert [(a.fingerprint[-1], a.status.value) for a in again.flushed.listed] == [
        ("1", "firing"),
        ("2", "firing"),
    ]
    assert again.opened
    # The timer armed for the flushed group must not flush its successor.
    assert buf.flush(opened.key, opened.generation) is None
    later = buf.flush(again.key, again.generation)
    assert later is not None and [a.status.value for a in later.listed] == ["resolved"]


def test_firing_set_follows_seq_and_repeats_with_numbers() -> None:
    firing = FiringSet(interval_s=100)
    key = GroupKey("fra1", "rack_power")
    firing.track([alert(1, seq=2), alert(2), alert(7, site="ams2")], now=0)
    firing.track([alert(1, seq=1, status="resolved")], now=1)  # late, older: ignored
    assert len(firing) == 3
    assert firing.due_groups(now=50) == []
    assert firing.take_due(key, START, now=50) == ([], {})
    assert set(firing.due_groups(now=100)) == {key, GroupKey("ams2", "rack_power")}
    alerts, repeats = firing.take_due(key, START + timedelta(seconds=250), now=100)
    assert {a.rack for a in alerts} == {"r1", "r2"}
    assert repeats == {f"{1:016x}": 2, f"{2:016x}": 2}
    assert firing.due_groups(now=150) == [GroupKey("ams2", "rack_power")]  # fra1 sent at 100
    firing.track([alert(2, seq=1, status="resolved")], now=160)
    assert sorted(a.rack for a in firing.all()) == ["r1", "r7"]
    firing.mark_sent([alert(1, seq=2)], now=300)
    assert firing.take_due(key, START, now=350) == ([], {})
    firing.track([alert(3, test=True)])
    assert len(firing) == 2  # test alerts are never repeated


def test_a_resolve_seen_first_wins_over_its_older_firing() -> None:
    firing = FiringSet(interval_s=100)
    firing.track([alert(1, seq=1, status="resolved")], now=0)  # observed, not sent
    firing.track([alert(1, seq=0)], now=1)  # the firing, dequeued later from its lane
    assert len(firing) == 0
    firing.track([alert(1, seq=2)], now=2)  # the next episode fires again
    assert len(firing) == 1
