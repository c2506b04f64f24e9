"""Power domains: validation of the declared tree, rack -> leaf mapping, sums rolled up
the tree, and the same rules at every level (pure core)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.core.domains import NO_LEAF, DomainTree, tree_problems
from pipeline.core.policy import RuleConfig, SitePolicy
from pipeline.core.site import SiteMonitor
from pipeline.errors import ConfigError
from pipeline.events import SiteSpec
from pipeline.sites import domain_notes, load_specs

CFG = RuleConfig(cap_for_s=1, cap_resolve_for_s=1, telemetry_for_s=1)
TREE: list[dict[str, Any]] = [
    # 2 x 32 MW under 60 MW: oversubscribed on purpose (as the example)
    {"name": "feed-a", "cap_mw": 60, "oversubscribe": True, "children": ["hall-1", "hall-2"]},
    {"name": "hall-1", "cap_mw": 32, "racks": ["h1-*"]},
    {"name": "hall-2", "cap_mw": 32, "racks": ["h2-*", "spare-9"]},
]


def spec(domains: list[dict[str, Any]], **extra: Any) -> SiteSpec:
    return SiteSpec.model_validate({"site": "atl-2", "cap_mw": 100, "domains": domains, **extra})


@pytest.mark.parametrize(
    ("domains", "problem"),
    [
        (
            [
                {"name": "a", "cap_mw": 10, "children": ["b"]},
                {"name": "b", "cap_mw": 10, "children": ["a"]},
            ],
            "domains form a cycle: a -> b -> a",
        ),
        (
            [{"name": "a", "cap_mw": 10, "children": ["ghost"]}],
            "domain a has unknown child ghost",
        ),
        (
            [
                {"name": "a", "cap_mw": 10, "racks": ["r1", "r2"]},
                {"name": "b", "cap_mw": 10, "racks": ["r2"]},
            ],
            "rack r2 is in two leaves: a, b",
        ),
        (
            [
                {"name": "a", "cap_mw": 10, "racks": ["h1-07"]},
                {"name": "b", "cap_mw": 10, "racks": ["h1-*"]},
            ],
            "rack h1-07 is in two leaves: a, b (h1-*)",
        ),
        (
            [
                {"name": "feed", "cap_mw": 50, "children": ["x", "y"]},
                {"name": "x", "cap_mw": 30, "racks": ["x*"]},
                {"name": "y", "cap_mw": 30, "racks": ["y*"]},
            ],
            "children's caps of domain feed sum above its cap (60 MW against 50 MW, 1.20x); "
            "set oversubscribe: true",
        ),
        (
            [{"name": "a", "cap_mw": 10}],
            "domain a needs either children or racks, not neither",
        ),
        (
            [
                {"name": "p", "cap_mw": 10, "children": ["c"]},
                {"name": "q", "cap_mw": 10, "children": ["c"]},
                {"name": "c", "cap_mw": 5, "racks": ["c*"]},
            ],
            "domain c is a child of both p and q",
        ),
    ],
)
def test_validation_names_each_problem_in_one_line(
    domains: list[dict[str, Any]], problem: str
) -> None:
    problems, _ = tree_problems(spec(domains))
    assert any(problem in line for line in problems), problems
    assert all("\n" not in line and line.startswith("site atl-2: ") for line in problems)


def test_oversubscription_allowed_on_purpose_reports_the_ratio() -> None:
    tree = [
        {"name": "feed", "cap_mw": 50, "oversubscribe": True, "children": ["x", "y"]},
        {"name": "x", "cap_mw": 30, "racks": ["x*"]},
        {"name": "y", "cap_mw": 30, "racks": ["y*"]},
    ]
    problems, notes = tree_problems(spec(tree))
    assert problems == []
    assert notes == [
        "site atl-2: domain feed is oversubscribed: children's caps 60 MW against 50 MW, 1.20x"
    ]


def test_sites_apply_refuses_a_bad_tree_and_accepts_a_good_one(tmp_path: Path) -> None:
    import yaml

    bad = tmp_path / "bad.yaml"
    cyclic = [{"name": "a", "cap_mw": 1, "children": ["a"]}]
    bad.write_text(yaml.safe_dump([{"site": "atl-2", "cap_mw": 100, "domains": cyclic}]))
    with pytest.raises(ConfigError, match="cycle: a -> a"):
        load_specs(bad)
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump([{"site": "atl-2", "cap_mw": 100, "domains": TREE}]))
    specs = load_specs(good)
    assert [d.name for d in specs[0].domains or ()] == ["feed-a", "hall-1", "hall-2"]
    assert domain_notes(specs) == [
        "site atl-2: domain feed-a is oversubscribed: children's caps 64 MW against 60 MW, 1.07x"
    ]


def test_racks_map_to_leaves_by_glob_and_name_once() -> None:
    tree = DomainTree.of_domains("atl-2", spec(TREE).domains or (), 0.9)
    assert tree is not None
    names = [d.limits.domain for d in tree.domains]
    assert names.index("hall-1") < names.index("feed-a")  # children before parents
    assert names[tree.leaf_of("h1-003")] == "hall-1"
    assert names[tree.leaf_of("spare-9")] == "hall-2"
    assert tree.leaf_of("h3-001") == NO_LEAF
    assert len(tree.cached_leaves()) == 3
    tree.forget(["h1-003"])
    assert "h1-003" not in tree.cached_leaves() and len(tree.cached_leaves()) == 2


def feed(monitor: SiteMonitor, now: int, hall1_mw: float, hall2_mw: float) -> None:
    for i in range(10):
        monitor.power.update(f"h1-{i}", now, hall1_mw * 1e5)
        monitor.power.update(f"h2-{i}", now, hall2_mw * 1e5)
    monitor.power.update("other-1", now, 1e6)  # in no domain: counts for the site only


def test_a_hall_over_its_cap_in_a_site_under_its_cap_fires_the_halls_alert_only() -> None:
    policy = SitePolicy.of("atl-2", spec(TREE), CFG)
    monitor = SiteMonitor("atl-2", CFG, created_ms=-60_000, durable=None)
    alerts = []
    for s in range(10):
        feed(monitor, s * 1000, hall1_mw=34, hall2_mw=18)
        row, domain_rows, fired = monitor.evaluate_power(s * 1000, policy)
        alerts += fired
    assert {(a.rule, a.domain, a.status.value) for a in alerts} == {
        ("cap_warning", "hall-1", "firing"),
        ("cap_critical", "hall-1", "firing"),
    }
    crit = next(a for a in alerts if a.rule == "cap_critical")
    assert crit.summary == "domain hall-1 of atl-2 draws 34.00 MW, 106.2 % of its 32.00 MW cap"
    assert row.total_w == 53e6
    by_name = {r.domain: r for r in domain_rows}
    assert (by_name["feed-a"].total_w, by_name["feed-a"].racks) == (52e6, 20)
    assert by_name["hall-1"].values()[8] == -2e6  # headroom


def test_domain_coverage_and_telemetry_missing_name_the_domain() -> None:
    policy = SitePolicy.of("atl-2", spec(TREE), CFG)
    monitor = SiteMonitor("atl-2", CFG, created_ms=-60_000, durable=None)
    feed(monitor, 0, 10, 10)
    alerts = []
    for s in range(1, 30):
        for i in range(10):  # hall-2 goes silent, hall-1 keeps reporting
            monitor.power.update(f"h1-{i}", s * 1000, 1e6)
        monitor.power.update("other-1", s * 1000, 1e6)
        alerts += monitor.evaluate_power(s * 1000, policy)[2]
    got = {(a.rule, a.severity.value, a.domain) for a in alerts}
    assert ("telemetry_missing", "critical", "hall-2") in got
    assert ("telemetry_missing", "warning", "feed-a") in got  # 10 of 20 racks
    assert ("telemetry_missing", "warning", None) in got  # the site: 11 of 21
    assert all(a.domain != "hall-1" for a in alerts)


def test_fingerprints_differ_per_domain_and_from_the_site() -> None:
    policy = SitePolicy.of("atl-2", spec(TREE, cap_mw=50), CFG)
    monitor = SiteMonitor("atl-2", CFG, created_ms=-60_000, durable=None)
    alerts = []
    for s in range(5):
        feed(monitor, s * 1000, 40, 40)
        alerts += monitor.evaluate_power(s * 1000, policy)[2]
    crit = {a.domain: a.fingerprint for a in alerts if a.rule == "cap_critical"}
    assert set(crit) == {None, "feed-a", "hall-1", "hall-2"}
    assert len(set(crit.values())) == 4


def test_spec_without_domains_behaves_as_before() -> None:
    policy = SitePolicy.of("atl-2", SiteSpec(site="atl-2", cap_mw=100), CFG)
    monitor = SiteMonitor("atl-2", CFG, created_ms=-60_000, durable=None)
    feed(monitor, 0, 10, 10)
    row, domain_rows, _ = monitor.evaluate_power(0, policy)
    assert domain_rows == [] and monitor.tree is None and row.total_w == 21e6
