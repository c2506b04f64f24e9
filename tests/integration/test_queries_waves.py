"""The power-wave named queries on small fixed data in the real embedded store (one test
per query, named after it; test_queries.py counts them). Numbers worked out by hand in
wave_fixed.py; the truth tests through a worker are test_power_waves.py."""

from __future__ import annotations

import pytest
from test_queries import at
from wave_fixed import COMPLIANCE_PCT, CURTAILED_MWH, REQUESTED_MWH, load_wave_rows

from pipeline.store import Store, named_query

pytestmark = pytest.mark.integration
SITE = "ams-1"
WINDOW = {"since_s": 3600, "until": at(10)}


@pytest.fixture
def data_store(store: Store) -> Store:
    load_wave_rows(store, SITE, at(0))
    return store


def test_dr_verification(data_store: Store) -> None:
    (row,) = named_query(data_store, "dr_verification", **WINDOW).to_dict("records")
    assert (row["event_id"], row["scope"], row["reduction_pct"]) == ("ev-1", SITE, 20.0)
    assert row["baseline_method"].startswith("high 5 of 10 days")
    assert len(row["baseline_days"]) == 5 and row["baseline_mw"] == 5.0
    assert row["time_to_target_s"] == 30.0
    assert row["compliance_pct"] == pytest.approx(COMPLIANCE_PCT)
    assert row["curtailed_mwh"] == pytest.approx(CURTAILED_MWH, abs=1e-6)
    assert row["requested_mwh"] == pytest.approx(REQUESTED_MWH, abs=1e-6)
    assert row["delivered_pct"] == pytest.approx(100 * 4.3 / 5, abs=1e-3)
    assert row["actual_mwh"] == pytest.approx(sum((4.5, 4.0, 4.0, 4.0, 4.2)) / 60, abs=1e-6)
    assert row["coverage"] == 1.0
    other = named_query(data_store, "dr_verification", site="fra-2", **WINDOW)
    assert other.empty


def test_dr_series(data_store: Store) -> None:
    rows = named_query(data_store, "dr_series", site=SITE, **WINDOW).to_dict("records")
    assert [r["actual_mw"] for r in rows] == [4.5, 4.0, 4.0, 4.0, 4.2]
    assert {r["target_mw"] for r in rows} == {4.0} and {r["baseline_mw"] for r in rows} == {5.0}
    assert {r["measured"] for r in rows} == {1.0}


def test_fleet_incidents(data_store: Store) -> None:
    (row,) = named_query(data_store, "fleet_incidents", site="fra-2", **WINDOW).to_dict("records")
    assert (row["region"], list(row["sites"]), row["site_count"]) == ("eu", [SITE, "fra-2"], 2)
    assert row["lost_mw"] == 5.0 and row["span_s"] == 0.4
    assert row["timeline"][1] == "+0.40 s  fra-2: 10.0 MW -> 7.0 MW (-30%)"
    assert named_query(data_store, "fleet_incidents", site="ord-1", **WINDOW).empty


def test_power_dynamics(data_store: Store) -> None:
    (row,) = named_query(data_store, "power_dynamics", **WINDOW).to_dict("records")
    assert (row["site"], row["region"], row["strides"]) == (SITE, "eu", 3)
    assert (row["max_ramp_1s_mw"], row["max_ramp_10s_mw"], row["max_swing_mw"]) == (0.4, 0.9, 1.0)
    assert (row["top_band"], row["max_band_mw"], row["dominant_hz"]) == ("0.1-2 Hz", 0.5, 0.5)
    assert row["unknown_pct"] == 0.0
    assert (row["load_drops"], row["worst_drop_pct"]) == (1, 40.0)


def test_the_dynamics_report_page_and_the_digest_lines(data_store: Store) -> None:
    from pipeline.analytics.digest import build_digest
    from pipeline.analytics.digest_data import gather_inputs, loss_thresholds
    from pipeline.analytics.report import render_html
    from pipeline.analytics.report_dynamics import dynamics_sections, read_dynamics_data
    from pipeline.settings import Settings

    data = read_dynamics_data(data_store, 3600, at(10))
    sections = dynamics_sections(data)
    assert [s.key for s in sections] == ["dr", "dr_load", "ramps", "incidents"]
    page = render_html(data, sections)
    assert page.count('class="plotly-graph-div"') == 4
    assert "high 5 of 10 days (site power per minute from wave_features)" in page
    assert "+0.40 s  fra-2: 10.0 MW -&gt; 7.0 MW (-30%)" in page

    def run(name: str, **params: object) -> object:
        return named_query(data_store, name, **params)

    digest = build_digest(gather_inputs(run, 3600, at(10)), loss_thresholds(Settings()), top=10)
    lines = {f.kind: f.sentence for f in digest.findings}
    assert lines["dr_event"] == (
        "DR event ev-1 for site ams-1 (-20 % of the baseline): curtailed 71.7 kWh of 83.3 kWh "
        "asked (86 %), compliance 87.5 %, target reached in 30 s (baseline: high 5 of 10 days "
        "(site power per minute from wave_features))"
    )
    assert lines["fleet_drop"] == (
        "region eu: 2 sites (ams-1, fra-2) lost 5.0 MW together at 2026-11-20 10:01:00 UTC, "
        "within 0.40 s"
    )
    severity = {f.kind: f.severity for f in digest.findings}
    assert severity == {"dr_event": "warning", "fleet_drop": "critical"}  # 86 %: short
