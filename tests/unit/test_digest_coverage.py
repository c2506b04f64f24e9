"""Digest findings on coverage (estimated share) and power domains (pure)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from pipeline.analytics.digest import build_digest
from pipeline.analytics.digest_coverage import (
    CoverageMinute,
    DomainTime,
    coverage_findings,
    domain_findings,
)
from pipeline.analytics.digest_data import gather_inputs, loss_thresholds, site_policies
from pipeline.analytics.ranking import rank
from pipeline.events import SiteSpec
from pipeline.settings import Settings


def test_low_coverage_minutes_make_one_finding_per_site_with_the_estimated_share() -> None:
    minutes = [
        CoverageMinute("hx-3", 1.0, 0.0, 0.0, 0, 0.9),
        CoverageMinute("hx-3", 0.6, 0.48, 40.0, 0, 0.9),
        CoverageMinute("hx-3", 0.6, 0.48, 40.0, 2, 0.9),
        CoverageMinute("ams-1", 0.95, 0.1, 1.0, 0, 0.9),  # above the minimum: nothing
    ]
    [found] = coverage_findings(minutes)
    assert (found.kind, found.severity, found.site, found.duration_s) == (
        "telemetry_gap",
        "warning",
        "hx-3",
        120.0,
    )
    assert found.sentence == (
        "site hx-3 had telemetry from under 90 % of its racks for 2 min (worst 60 %); "
        "up to 0.48 MW (40 %) estimated at last known power; up to 2 racks of unknown power"
    )


def test_a_wholly_silent_minute_is_critical() -> None:
    [found] = coverage_findings([CoverageMinute("hx-3", 0.0, 1.2, 100.0, 0, 0.9)])
    assert found.severity == "critical"


def test_a_domain_over_its_cap_is_a_finding_and_ranks_with_site_breaches() -> None:
    domains = [
        DomainTime("atl-2", "hall-1", 34.0, 32.0, 17, 1.0),
        DomainTime("atl-2", "hall-2", 20.0, 32.0, 0, 1.0),
        DomainTime("atl-2", "feed-x", 20.0, None, 5, 1.0),
    ]
    [found] = domain_findings(domains)
    assert found.sentence == (
        "domain hall-1 of site atl-2 was at or above its 32.0 MW cap for 17 min (peak 34.0 MW)"
    )
    assert rank([found])[0].kind == "domain_cap_breach"


UNTIL = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def coverage_rows(site: str, coverage: float, minutes: int, estimated_mw: float) -> list[dict]:
    return [
        {
            "site": site,
            "bucket": UNTIL,
            "min_coverage": coverage,
            "max_estimated_mw": estimated_mw,
            "max_estimated_pct": 10.0,
            "max_unknown_racks": 0,
        }
    ] * minutes


def test_each_site_is_judged_by_its_own_min_coverage_as_the_worker_judges_it() -> None:
    """MEGAWATCH_MIN_COVERAGE=0.95 and one site whose spec says 0.5: that site at 60 %
    coverage is fine (the worker raises no telemetry_missing there), a site without a
    spec at 90 % is not; the digest's top findings say the same."""
    settings = Settings(min_coverage=0.95)
    specs = {
        "lax-1": SiteSpec(site="lax-1", cap_mw=50, min_coverage=0.5),
        "ams-1": SiteSpec(site="ams-1", cap_mw=20, min_coverage=0.5),
    }
    rows = [
        *coverage_rows("lax-1", 0.6, 30, 8.0),  # under 0.9 and 0.95, over its own 0.5
        *coverage_rows("hx-3", 0.9, 10, 0.5),  # no spec: the setting, 0.95
        *coverage_rows("ams-1", 0.4, 5, 2.0),  # under its own 0.5
        *coverage_rows("fra-2", 0.97, 60, 0.1),  # over 0.95: fine
    ]

    def run(name: str, **params: Any) -> pd.DataFrame:
        return pd.DataFrame(rows if name == "coverage" else [])

    policy_of = site_policies(settings, specs)
    inputs = gather_inputs(run, 3600, UNTIL, policy_of=policy_of)
    digest = build_digest(inputs, loss_thresholds(settings))
    gaps = [(f.site, f.duration_s) for f in digest.findings if f.kind == "telemetry_gap"]
    # computed independently: a site's minutes under its spec's value, else the setting's
    minimum = {"lax-1": 0.5, "ams-1": 0.5, "hx-3": 0.95, "fra-2": 0.95}
    expected = {}
    for row in rows:
        if row["min_coverage"] < minimum[row["site"]]:
            expected[row["site"]] = expected.get(row["site"], 0.0) + 60.0
    assert sorted(gaps) == sorted(expected.items()) == [("ams-1", 300.0), ("hx-3", 600.0)]
    # ranked by hours x (1 + log2(1 + MW estimated)) (both warnings): hx-3 (10 min,
    # 0.5 MW) over ams-1 (5 min, 2 MW); lax-1 (30 min, 8 MW) would top a 0.9 for all
    estimated = {"ams-1": 2.0, "hx-3": 0.5}
    score = {s: expected[s] / 3600 * (1 + math.log2(1 + estimated[s])) for s in expected}
    assert [site for site, _ in gaps] == sorted(score, key=lambda s: -score[s]) == ["hx-3", "ams-1"]
    hx3 = next(f for f in digest.findings if f.site == "hx-3")
    assert "under 95 % of its racks" in hx3.sentence


def test_without_specs_every_site_gets_the_setting() -> None:
    settings = Settings(min_coverage=0.5)
    policy_of = site_policies(settings)
    rows = coverage_rows("lax-1", 0.6, 3, 1.0)
    inputs = gather_inputs(
        lambda name, **_: pd.DataFrame(rows if name == "coverage" else []),
        3600,
        UNTIL,
        policy_of=policy_of,
    )
    assert coverage_findings(inputs.coverage) == []
