"""Digest findings on coverage (estimated share) and power domains (pure)."""

from __future__ import annotations

from pipeline.analytics.digest_coverage import (
    CoverageMinute,
    DomainTime,
    coverage_findings,
    domain_findings,
)
from pipeline.analytics.ranking import rank


def test_low_coverage_minutes_make_one_finding_per_site_with_the_estimated_share() -> None:
    minutes = [
        CoverageMinute("hx-3", 1.0, 0.0, 0.0, 0),
        CoverageMinute("hx-3", 0.6, 0.48, 40.0, 0),
        CoverageMinute("hx-3", 0.6, 0.48, 40.0, 2),
        CoverageMinute("ams-1", 0.95, 0.1, 1.0, 0),  # above the minimum: nothing
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
    [found] = coverage_findings([CoverageMinute("hx-3", 0.0, 1.2, 100.0, 0)])
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
