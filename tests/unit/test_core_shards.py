"""Sharded sites in the pure core: keys ``SITE/SHARD``, partials, the site stage.

The reference is always the same readings under one plain ``SITE`` key, evaluated as
before: a site split over shards (in one worker, or with its site stage in another
process reached through encoded partials) must give the same site and domain series and
the same alerts; a late shard is held, then unknown, never zero; a replayed partial
changes nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.core.alert_book import AlertBook
from pipeline.core.partial import Partial, PartialError, decode, encode
from pipeline.core.policy import RuleConfig, SitePolicy
from pipeline.core.processor import Outcome, Processor
from pipeline.core.rules.cap import draw_text
from pipeline.core.rules.coverage import coverage_facts
from pipeline.core.site_key import SiteKey, shard_problem, site_of
from pipeline.core.site_stage import SiteStage
from pipeline.events import RackPower, SiteSpec

CFG = RuleConfig(
    cap_for_s=1, cap_resolve_for_s=1, telemetry_for_s=2, stale_after_s=3, stale_hold_s=10
)
SITE = "gw-1"
HALLS = ("hall-a", "hall-b", "hall-c", "hall-d")
TREE: list[dict[str, Any]] = [
    # a feed over two halls of two shards, a hall leaf, and racks of no leaf
    {"name": "feed-1", "cap_mw": 2.4, "children": ["hall-a", "hall-b"]},
    {"name": "hall-a", "cap_mw": 1.2, "racks": ["a-*"]},
    {"name": "hall-b", "cap_mw": 1.2, "racks": ["b-*"]},
    {"name": "hall-c", "cap_mw": 1.2, "racks": ["c-*"]},
]


def spec(**extra: Any) -> SiteSpec:
    return SiteSpec.model_validate({"site": SITE, "cap_mw": 4.0, "domains": TREE, **extra})


def racks_of(hall: str) -> list[str]:
    return [f"{hall[-1]}-{i}" for i in range(5)]


def readings(hall: str, ts: int, kw: float) -> list[RackPower]:
    return [RackPower(site=SITE, rack=r, ts=ts, power_w=kw * 1000) for r in racks_of(hall)]


def plan(second: int) -> float:
    """kW per rack: under the 4 MW cap, over it (5.2 MW), back under."""
    return 100.0 if second < 20 else 260.0 if second < 40 else 120.0


Alerts = list[tuple[str, str, str, int]]  # rule, status, domain ("": the site), seq


def drive(
    keyed: bool, stage_partition: Any = None, deliver: Any = None
) -> tuple[list[Any], Alerts]:
    """Feed 4 halls of 5 racks for a minute, a message per hall per second, a tick per
    second; ``keyed``: SITE/HALL keys, else one plain SITE key. ``deliver`` gets the
    partials for a site stage elsewhere. Returns the site_power rows (ts, total_w,
    warming) and the alerts (rule, status, domain, seq)."""
    processor = Processor(CFG, {SITE: spec()}.get, lambda key: None, stage_partition)
    rows: list[Any] = []
    alerts: Alerts = []

    def take(out: Outcome) -> None:
        alerts.extend((a.rule, a.status.value, a.domain or "", a.seq) for a in out.alerts)
        for one in out.partials:
            deliver(one)

    for s in range(60):
        now = 1_000_000 + s * 1000
        for offset, hall in enumerate(HALLS):
            key = f"{SITE}/{hall}" if keyed else SITE
            take(processor.rack_power(readings(hall, now, plan(s)), 0, offset, now + 10, key))
        tick = processor.tick_sites(now + 500, [*processor.monitors, *processor.stages])
        take(tick)
        assert tick.columns is not None
        rows.extend(zip(tick.columns[1], tick.columns[2], tick.columns[8], strict=True))
    return rows, alerts


def test_keys_split_into_site_and_shard() -> None:
    assert SiteKey.of("gw-1/hall-a") == SiteKey("gw-1", "hall-a")
    assert SiteKey.of("gw-1").text == "gw-1" and SiteKey("gw-1", "h").text == "gw-1/h"
    assert site_of("gw-1/hall-a") == "gw-1" and site_of("gw-1") == "gw-1"
    assert shard_problem("gw-1") is None and shard_problem("gw-1/hall-a") is None
    assert "is empty" in (shard_problem("gw-1/") or "")
    assert "contains another '/'" in (shard_problem("gw-1/a/b") or "")
    assert "is not an id" in (shard_problem("gw-1/h é") or "")


def test_a_sharded_site_in_one_worker_evaluates_as_the_plain_site() -> None:
    plain_rows, plain_alerts = drive(keyed=False)
    rows, alerts = drive(keyed=True)
    assert rows == plain_rows
    assert sorted(alerts) == sorted(plain_alerts)
    fired = {(rule, domain) for rule, status, domain, _ in alerts if status == "firing"}
    # the site over its cap, a domain that spans two shards (feed-1), and the halls
    assert {("cap_critical", ""), ("cap_critical", "feed-1"), ("cap_critical", "hall-c")} <= (fired)
    site_critical = [seq for rule, _, dom, seq in alerts if (rule, dom) == ("cap_critical", "")]
    assert sorted(site_critical) == [1, 2]


def test_remote_partials_reproduce_the_plain_series_and_alerts() -> None:
    """Shards in one processor, the site stage in another, partials as bytes between."""
    plain_rows, plain_alerts = drive(keyed=False)
    stage_side = Processor(CFG, {SITE: spec()}.get, lambda key: None)
    stage_rows: list[Any] = []
    stage_alerts: Alerts = []
    sizes: list[int] = []

    def deliver(one: Partial) -> None:
        raw = encode(one)
        sizes.append(len(raw))
        got = stage_side.receive_partial(decode(raw), 3, one.at_ms)
        if got is not None:
            stage_alerts.extend((a.rule, a.status.value, a.domain or "", a.seq) for a in got.alerts)
        if one.leaves is not None and one.shard == HALLS[-1]:  # the last shard's tick
            tick = stage_side.tick_stages(one.at_ms, [SITE])
            stage_alerts.extend(
                (a.rule, a.status.value, a.domain or "", a.seq) for a in tick.alerts
            )
            assert tick.columns is not None
            stage_rows.extend(zip(tick.columns[1], tick.columns[2], tick.columns[8], strict=True))

    rows, alerts = drive(keyed=True, stage_partition=lambda site: None, deliver=deliver)
    assert rows == [] and alerts == []  # nothing of the site's on the shards' side
    assert stage_rows == plain_rows
    assert sorted(stage_alerts) == sorted(plain_alerts)
    # every message moved its shard's sums: a partial each, and one per shard per tick
    assert len(sizes) == 60 * 4 * 2 and max(sizes) < 400


def partial(shard: str, seq: int, at_ms: int, kw: float, **extra: Any) -> Partial:
    fields: dict[str, Any] = {
        "site": SITE,
        "shard": shard,
        "epoch": 1,
        "seq": seq,
        "at_ms": at_ms,
        "warming": False,
        "newest_ms": at_ms - 100,
        "total": (kw * 5000.0, 0.0, 5, 0, 0, -1),
        "leaves": ((f"hall-{shard[-1]}", (kw * 5000.0, 0.0, 5, 0, 0, -1)),),
    }
    return Partial(**(fields | extra))


def stage_at(created: int = 0) -> tuple[SiteStage, SitePolicy]:
    policy = SitePolicy.of(SITE, spec(), CFG)
    return SiteStage(SITE, CFG, created, AlertBook(SITE)), policy


def test_a_late_partial_is_held_as_estimated_then_unknown_never_zero() -> None:
    stage, policy = stage_at()
    for shard in ("hall-a", "hall-b"):
        stage.receive(partial(shard, 1, 100_000, 200.0))
    stage.receive(partial("hall-a", 2, 110_000, 200.0))  # hall-b stays at 100 s
    at = stage.draw(102_000, policy)
    assert (at.reported_w, at.estimated_w, at.late_shards) == (2e6, 0.0, ())
    held = stage.draw(110_000, policy)  # hall-b's partial is 10 s old: past 3 s, held
    assert (held.reported_w, held.estimated_w, held.held, held.late_shards) == (
        1e6,
        1e6,
        5,
        ("hall-b",),
    )
    assert held.silent_since_ms == 99_900 and not held.complete
    unknown = stage.draw(114_000, policy)  # 14 s: past 3 s + 10 s of hold, unknown
    # hall-b unknown, hall-a (4 s old) held in turn
    assert (unknown.total_w, unknown.unknown, unknown.held, unknown.racks) == (1e6, 5, 5, 10)
    text = draw_text(held, 110_000)
    assert "1.00 MW estimated for 5 silent racks" in text and "shard hall-b late" in text
    domains = stage.domain_draws(110_000, policy, stage.domain_tree(policy))
    by = dict(zip([d.limits.domain for d in stage.tree.domains], domains, strict=True))  # type: ignore[union-attr]
    assert (by["hall-b"].estimated_w, by["feed-1"].total_w) == (1e6, 2e6)


def test_a_replayed_or_older_partial_changes_nothing() -> None:
    stage, policy = stage_at()
    assert stage.receive(partial("hall-a", 5, 100_000, 200.0))
    assert not stage.receive(partial("hall-a", 5, 100_000, 999.0))  # replayed
    assert not stage.receive(partial("hall-a", 4, 101_000, 999.0))  # older, later clock
    assert stage.draw(100_500, policy).total_w == 1e6 and stage.ignored == 2
    newer_owner = partial("hall-a", 1, 102_000, 300.0, epoch=2)  # a new owner's first
    assert stage.receive(newer_owner) and stage.draw(102_500, policy).total_w == 1.5e6
    assert not stage.receive(partial("hall-a", 6, 103_000, 999.0))  # the old owner's, late
    # per-message partials carry no leaves: the leaves of the last tick stay
    assert stage.receive(partial("hall-a", 2, 104_000, 100.0, epoch=2, leaves=None))
    assert stage.leaves["hall-a"] is newer_owner


def test_never_seen_shards_count_as_missing_racks() -> None:
    stage, _ = stage_at()
    policy = SitePolicy.of(SITE, spec(shards_expected=4), CFG)
    stage.receive(partial("hall-a", 1, 100_000, 200.0))
    stage.receive(partial("hall-b", 1, 100_000, 200.0))
    draw = stage.draw(100_500, policy)
    assert (draw.racks, draw.expected, draw.coverage, draw.shards_missing) == (10, 20, 0.5, 2)
    assert "2 of 4 expected shards never reported" in draw_text(draw, 100_500)
    facts = coverage_facts("site gw-1", draw, 0.5, 0.9, 100_500)
    assert "10 of 20 racks not reporting" in facts.summary
    assert "2 of 4 expected shards never reported" in facts.summary


def test_a_warming_shard_holds_the_site_rules() -> None:
    stage, policy = stage_at(created=0)
    stage.receive(partial("hall-a", 1, 100_000, 900.0))
    assert not stage.warming(100_000, policy)
    assert [a.rule for a in stage.evaluate_site(100_000, policy)] == []  # pending (for 1 s)
    stage.receive(partial("hall-b", 1, 100_100, 10.0, warming=True))  # a new owner
    assert stage.warming(101_500, policy) and stage.evaluate_site(101_500, policy) == []
    stage.receive(partial("hall-b", 2, 104_000, 10.0))  # warmed up
    stage.receive(partial("hall-a", 2, 104_000, 900.0))
    fired = stage.evaluate_site(104_000, policy) + stage.evaluate_site(105_100, policy)
    assert {a.rule for a in fired} == {"cap_warning", "cap_critical"}


def test_partials_round_trip_and_refuse_what_is_not_one() -> None:
    one = partial("hall-a", 3, 100_000, 200.0, stale=("a-1",))
    assert decode(encode(one)) == one
    assert decode(encode(partial("h", 1, 5, 1.0, leaves=None, newest_ms=None))).leaves is None
    for raw, why in (
        (b"", "empty"),
        (b"{", "not JSON"),
        (b'{"v": 2}', "version"),
        (b'{"v": 1, "site": "x"}', "malformed"),
    ):
        with pytest.raises(PartialError, match=why):
            decode(raw)


def test_shards_coalesce_partials_and_revoke_forgets_keys_and_stages() -> None:
    processor = Processor(CFG, {SITE: spec()}.get, lambda key: None, lambda site: None, 50)
    key = f"{SITE}/hall-a"
    first = processor.rack_power(readings("hall-a", 1000, 1.0), 2, 0, 1000, key)
    assert len(first.partials) == 1 and first.partials[0].leaves is None
    held = processor.rack_power(readings("hall-a", 1010, 2.0), 2, 1, 1010, key)
    assert held.partials == [] and processor.due_partials(1040) == []
    [due] = processor.due_partials(1050)
    assert due.total[0] == 10_000.0 and due.seq == 2
    same = processor.rack_power(readings("hall-a", 1010, 2.0), 2, 1, 1200, key)  # replayed
    assert same.partials == [] and processor.due_partials(1300) == []
    tick = processor.tick_keys(1400, [key])
    assert [p.leaves for p in tick.partials] == [(("hall-a", (10_000.0, 0.0, 5, 0, 0, -1)),)]
    processor.receive_partial(tick.partials[0], 5, 1400)
    assert set(processor.partition_of.items()) == {(key, 2), (SITE, 5)}
    assert processor.revoke({5}) == [SITE] and SITE not in processor.stages
    assert processor.revoke({2}) == [key] and processor.monitors == {} and processor.books == {}
