"""The digest's lines about power that moves: a DR event verified (info when it held,
a warning when it fell short), a fleet incident (critical)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.analytics.findings_waves import (
    DrVerified,
    FleetDrop,
    WaveInputs,
    dr_finding,
    wave_findings,
)

START = datetime(2026, 7, 27, 19, 0, tzinfo=UTC)


def event(**changes: object) -> DrVerified:
    base = {
        "event_id": "ers-1",
        "scope": "dfw-1",
        "is_region": False,
        "start": START,
        "end": START + timedelta(hours=3),
        "target": "-25 % of the baseline",
        "baseline_method": "high 5 of 10 days",
        "curtailed_mwh": 185.0,
        "requested_mwh": 187.5,
        "compliance_pct": 98.2,
        "time_to_target_s": 24.0,
        "coverage": 1.0,
    }
    return DrVerified(**{**base, **changes})  # type: ignore[arg-type]


def test_an_event_that_held_is_info_with_its_figures() -> None:
    finding = dr_finding(event(), START + timedelta(days=1))
    assert finding.severity == "info" and finding.kind == "dr_event"
    assert finding.sentence == (
        "DR event ers-1 for site dfw-1 (-25 % of the baseline): curtailed 185.0 MWh of "
        "187.5 MWh asked (99 %), compliance 98.2 %, target reached in 24 s (baseline: high "
        "5 of 10 days)"
    )
    assert finding.duration_s == 3 * 3600 and finding.site == "dfw-1"


@pytest.mark.parametrize(
    "changes",
    [
        {"compliance_pct": 80.0},
        {"curtailed_mwh": 150.0},
        {"time_to_target_s": None},
        {"coverage": 0.5},
    ],
)
def test_an_event_that_fell_short_is_a_warning(changes: dict[str, object]) -> None:
    assert dr_finding(event(**changes), START + timedelta(days=1)).severity == "warning"


def test_an_event_under_way_and_one_without_a_baseline_say_so() -> None:
    text = dr_finding(event(curtailed_mwh=None), START + timedelta(hours=1)).sentence
    assert "(-25 % of the baseline) so far: curtailment not priced (no baseline)," in text


def test_a_fleet_incident_is_critical() -> None:
    drop = FleetDrop("ercot-n", START, ["dfw-1", "dfw-2"], 410.0, 0.6)
    (finding,) = wave_findings(WaveInputs([], [drop]), START)
    assert finding.severity == "critical" and finding.amount == 410.0
    assert finding.sentence == (
        "region ercot-n: 2 sites (dfw-1, dfw-2) lost 410.0 MW together at 2026-07-27 19:00:00 "
        "UTC, within 0.60 s"
    )
    assert wave_findings(None, START) == []
