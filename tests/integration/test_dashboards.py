"""The Grafana dashboards: the checked-in JSON is what the code builds, and the SQL of
every ClickHouse panel, variable and annotation runs on the embedded store with data in
it, with Grafana's macros replaced the way the ClickHouse plugin expands them."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from energy_fixed import load_energy_rollups
from test_queries import MW, UNTIL, at, insert, insert_link_health, load_fixed_data
from wave_fixed import COMPLIANCE_PCT, load_wave_rows

from pipeline.dashboards.__main__ import DASHBOARDS, OUT, main, rendered

pytestmark = pytest.mark.integration

FROM = UNTIL - timedelta(hours=1)
SITE = "ams-1"


def clickhouse_targets(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every ClickHouse query of a built dashboard: panel targets, variables, annotations."""
    found: list[dict[str, Any]] = []
    for panel in dashboard.get("panels", []):
        found.extend(t for t in panel.get("targets", []) if "rawSql" in t)
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        if isinstance(query, dict) and "rawSql" in query:
            found.append(query)
    for annotation in dashboard.get("annotations", {}).get("list", []):
        target = annotation.get("target")
        if isinstance(target, dict) and "rawSql" in target:
            found.append(target)
    return found


def expand(sql: str, site: str = SITE) -> str:
    """The plugin's expansion (grafana-clickhouse-datasource 4.x) for 09:10-10:10 UTC."""
    start, end = int(FROM.timestamp()), int(UNTIL.timestamp())
    sql = re.sub(
        r"\$__timeFilter\(([^)]+)\)",
        rf"\1 >= toDateTime({start}) AND \1 <= toDateTime({end})",
        sql,
    )
    sql = re.sub(
        r"\$__timeInterval\(([^)]+)\)",
        r"toStartOfInterval(toDateTime(\1), INTERVAL 60 second)",
        sql,
    )
    sql = sql.replace("$__fromTime", f"toDateTime({start})").replace(
        "$__toTime", f"toDateTime({end})"
    )
    sql = sql.replace("${site}", site)
    assert "$" not in sql, f"a macro is left: {sql}"
    return sql


def domain_rows() -> list[dict[str, Any]]:
    """ams-1 has two domains: hall-a at 2.4 of 2.5 MW, hall-b at 1.8 of 3 MW (10 % estimated)."""
    rows = []
    for minute in range(3):
        for domain, mw, cap, estimated in (("hall-a", 2.4, 2.5, 0.0), ("hall-b", 1.8, 3.0, 0.18)):
            rows.append(
                {
                    "site": SITE,
                    "domain": domain,
                    "ts": at(minute),
                    "total_w": mw * MW,
                    "reported_w": (mw - estimated) * MW,
                    "estimated_w": estimated * MW,
                    "cap_w": cap * MW,
                    "warn_w": 0.9 * cap * MW,
                    "headroom_w": (cap - mw) * MW,
                    "coverage": 0.9 if estimated else 1.0,
                    "racks": 10,
                    "stale_racks": 1 if estimated else 0,
                    "unknown_racks": 0,
                    "warming": 0,
                }
            )
    return rows


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Each dashboard's ClickHouse queries, run on the fixed data set: title -> rows."""
    from pipeline.settings import Settings
    from pipeline.store import open_store

    settings = Settings(data_dir=tmp_path_factory.mktemp("dashboards"))
    found: dict[str, dict[str, list[dict[str, Any]]]] = {}
    with open_store(settings) as store:
        store.migrate()
        load_fixed_data(store)
        insert(store, "domain_power", domain_rows())
        insert_link_health(store)
        load_energy_rollups(store, SITE, at(0))  # the 10:00 hour of the window
        load_wave_rows(store, SITE, at(0))
        for name, text in rendered().items():
            board = json.loads(text)
            found[name] = {}
            for number, target in enumerate(clickhouse_targets(board)):
                frame = store.query_df(expand(str(target["rawSql"])))
                found[name][f"{number}: {str(target['rawSql'])[:60]}"] = frame.to_dict("records")
    return found


def test_checked_in_dashboards_are_what_the_code_builds() -> None:
    assert sorted(p.name for p in OUT.glob("*.json")) == sorted(DASHBOARDS)
    assert main(["--check"]) == 0


def test_every_clickhouse_query_runs_and_finds_data(
    results: dict[str, dict[str, list[dict[str, Any]]]],
) -> None:
    assert set(results) == set(DASHBOARDS)
    for name, queries in results.items():
        assert queries, f"{name}: no ClickHouse query"
        empty = [title for title, rows in queries.items() if not rows]
        assert empty == [], f"{name}: queries without rows on the data set: {empty}"


def rows_of(
    results: dict[str, dict[str, list[dict[str, Any]]]], board: str, start: str
) -> list[dict[str, Any]]:
    [rows] = [
        rows for title, rows in results[board].items() if title.split(": ", 1)[1].startswith(start)
    ]
    return rows


def test_fleet_table_ranks_sites_by_share_of_cap(results: dict[str, Any]) -> None:
    every = next(
        rows
        for title, rows in results["megawatch-fleet.json"].items()
        if "pct_of_cap" in str(rows[:1]) and "coverage_pct" in str(rows[:1])
    )
    # latest samples (10:02:45): ams-1 4.2 of 5 MW, fra-2 6 of 10 MW, ord-1 uncapped
    assert [(r["site"], r["pct_of_cap"], r["headroom_mw"]) for r in every][:2] == [
        ("ams-1", 84.0, 0.8),
        ("fra-2", 60.0, 4.0),
    ]
    assert every[2]["site"] == "ord-1"
    # now is the latest evaluation, with its age before the end of the range (10:10), as
    # the fleet_ledger query says it (issue 24)
    assert [(r["now_mw"], r["age_s"]) for r in every] == [(4.2, 435.0), (6.0, 435.0), (2.0, 435.0)]


def test_site_domains_and_episodes(results: dict[str, Any]) -> None:
    site = results["megawatch-site.json"]
    domains = next(
        rows for rows in site.values() if rows and "domain" in rows[0] and "cap_mw" in rows[0]
    )
    assert [(r["domain"], r["pct_of_cap"]) for r in domains] == [("hall-a", 96.0), ("hall-b", 60.0)]
    episodes = next(rows for rows in site.values() if rows and "timeEnd" in rows[0])
    assert {r["tags"] for r in episodes} >= {"cap_critical"}
    gpu = next(rows for rows in site.values() if rows and "watts_per_gpu" in rows[0])
    # ams-1's GPU samples: util 80, 90, 100 at 600, 600, 840 W; 2, 3, 1 % at 120 W
    assert [(r["utilization"], r["watts_per_gpu"]) for r in gpu] == [
        ("0-10 %", 120.0),
        ("80-90 %", 600.0),
        ("90-100 %", 720.0),
    ]


def test_link_health_panels(results: dict[str, Any]) -> None:
    """The link-health samples of test_queries (ams-1/ib-7: 45 post-FEC errors in 9e12
    bits, one uncorrectable codeword, a flap, a sample down, priority 3 paused 20 % of
    the time, a lane at -6.09 dBm at worst; ib-8: the device's own BER only)."""
    links = results["megawatch-links.json"]
    table = next(rows for rows in links.values() if rows and "post_fec_ber" in rows[0])
    ib7 = next(r for r in table if r["link"] == "ib-7")
    assert ib7["post_fec_ber"] == pytest.approx(45 / 9e12)
    assert (ib7["fec_uncorrectable"], ib7["transitions"], ib7["samples_down"]) == (1, 2, 1)
    assert ib7["rx_min_dbm"] == -6.09 and ib7["rx_low_warn_dbm"] == -10.5
    assert table[0]["link"] == "ib-7"  # the uncorrectable codeword ranks it first
    optics = next(rows for rows in links.values() if rows and "rx_dbm" in rows[0])
    assert {r["link_name"] for r in optics} == {"ams-1 ib-7"}
    pauses = next(rows for rows in links.values() if rows and "pause_pct" in rows[0])
    assert max(r["pause_pct"] for r in pauses) == pytest.approx(20.0)


def test_energy_pue_jobs_and_unattributed(results: dict[str, Any]) -> None:
    """energy_fixed.py: PUE 1.25, j1 4.8 kWh, rack r2 metering 10 kWh no GPU explains."""
    board = "megawatch-energy.json"
    (pue,) = rows_of(results, board, "SELECT f.hour AS time, f.facility / i.it AS pue")
    assert pue["pue"] == pytest.approx(1.25)
    jobs = {r["job"]: r for r in rows_of(results, board, "SELECT job,")}
    assert jobs["j1"]["kwh"] == pytest.approx(4.8) and jobs["j2"]["capped_pct"] == 25.0
    racks = {r["rack"]: r for r in rows_of(results, board, "SELECT p.rack AS rack,")}
    assert racks["r2"]["unattributed_kwh"] == pytest.approx(10.0)
    (work,) = rows_of(results, board, "SELECT w.served_model AS served_model")
    assert work["work_per_joule"] == pytest.approx(2.0)


def test_dynamics_ramps_bands_drops_and_dr(results: dict[str, Any]) -> None:
    """wave_fixed.py: ams-1 ramps 0.4 MW within 1 s, swings 0.5 MW in 0.1-2 Hz, drops 40 %
    at 10:01 with fra-2; DR event ev-1 verified at 87.5 % compliance."""
    board = results["megawatch-dynamics.json"]
    ramps = next(rows for rows in board.values() if rows and "ramp_1s_mw" in rows[0])
    assert max(r["ramp_1s_mw"] for r in ramps) == pytest.approx(0.4)
    bands = next(rows for rows in board.values() if rows and "amplitude_mw" in rows[0])
    assert {r["band"] for r in bands} == {"0.1-2 Hz", "3-30 Hz"}
    assert max(r["amplitude_mw"] for r in bands) == pytest.approx(0.5)
    domains = next(rows for rows in board.values() if rows and "max_amplitude_mw" in rows[0])
    assert domains[0]["domain"] == "hall-a" and domains[0]["max_amplitude_mw"] == 0.3
    drops = next(rows for rows in board.values() if rows and "lost_pct" in rows[0])
    assert [(r["site"], r["lost_pct"]) for r in drops] == [(SITE, 40.0)]
    (incident,) = next(rows for rows in board.values() if rows and "timeline" in rows[0])
    assert incident["sites"] == 2 and incident["lost_mw"] == 5.0
    (event,) = next(rows for rows in board.values() if rows and "compliance_pct" in rows[0])
    assert event["compliance_pct"] == COMPLIANCE_PCT and event["time_to_target_s"] == 30.0
