"""The energy page of the report on fixed rollups (energy_fixed.py), and `megawatch
headroom` / `megawatch report --page energy` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from energy_fixed import load_energy_rollups
from test_queries import UNTIL, at
from test_report import ReportParser, figure_json, values

from pipeline.analytics.report import render_html
from pipeline.analytics.report_energy import energy_sections, read_energy_data
from pipeline.store import Store

pytestmark = pytest.mark.integration
SITE = "en-1"
SECTIONS = ["tenants", "jobs", "site_energy", "pue", "unattributed", "capped", "work", "headroom"]
HERE = Path(__file__).parent


@pytest.fixture
def page(store: Store) -> ReportParser:
    load_energy_rollups(store, SITE, at(0))
    data = read_energy_data(store, 3600, UNTIL)
    parser = ReportParser()
    parser.feed(render_html(data, energy_sections(data)))
    return parser


def test_every_section_has_its_chart_and_needs_no_network(page: ReportParser) -> None:
    assert page.charts == {key: 1 for key in SECTIONS}
    assert page.external == []


def test_jobs_tenants_pue_and_racks_show_the_rollups(page: ReportParser) -> None:
    jobs = figure_json(page.scripts["jobs"][0])["data"]
    assert values(jobs[0]["x"]) == ["j1 (en-1)", "j2 (en-1)"]
    assert values(jobs[0]["y"]) == [4.8, 1.6] and values(jobs[1]["y"]) == [0.6, 0.4]
    tenants = {t["name"]: values(t["y"]) for t in figure_json(page.scripts["tenants"][0])["data"]}
    assert tenants == {"inference": [1.6], "training": [4.8]}
    (pue,) = figure_json(page.scripts["pue"][0])["data"]
    assert values(pue["y"]) == [1.25]
    (racks,) = figure_json(page.scripts["unattributed"][0])["data"]
    assert values(racks["x"]) == ["en-1/r2", "en-1/r1"]  # 10 kWh, then 0.8 kWh
    assert values(racks["y"]) == pytest.approx([10 / 11.6 * 100, 0.8 / 5.6 * 100], abs=0.01)


def test_headroom_and_the_energy_page_from_the_command_line(
    subprocess_store_env: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **subprocess_store_env,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    load = (
        "from energy_fixed import load_energy_rollups\n"
        "from test_queries import at, insert, MW\n"
        "from pipeline.settings import load_settings\n"
        "from pipeline.store import open_store\n"
        "with open_store(load_settings()) as store:\n"
        "    store.migrate()\n"
        f"    load_energy_rollups(store, '{SITE}', at(0))\n"
        "    insert(store, 'rack_power', [{'site': 'en-1', 'rack': 'r1', 'ts': at(m), "
        "'power_w': 1e5, 'kafka_partition': 0, 'kafka_offset': m} for m in range(5)])\n"
        "    insert(store, 'site_power', [{'site': 'en-1', 'ts': at(m), 'total_w': (4 + m) * MW, "
        "'cap_w': 10 * MW, 'racks': 5, 'stale_racks': 0, 'warming': 0} for m in range(5)])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", load],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr

    def megawatch(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "pipeline", *args]
        return subprocess.run(
            argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )

    until = "2026-11-20T10:10:00Z"
    done = megawatch(
        "headroom",
        "--site",
        SITE,
        "--rack",
        "r1",
        "--risk",
        "0.2",
        "--since",
        "1h",
        "--until",
        until,
        "--format",
        "json",
    )
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)
    # per minute (10 - 4..8 MW) / 0.1 MW: 60, 50, 40, 30, 20 racks; one minute in five may go
    # over: 30. Stranded: the cap less the 0.8 quantile of 4..8 MW (7.2 MW, numpy's linear)
    assert (row["more_racks"], row["cap_mw"], row["stranded_mw"], row["minutes"]) == (
        30,
        10.0,
        2.8,
        5,
    )
    refused = megawatch("headroom", "--site", SITE, "--since", "1h", "--until", until)
    assert refused.returncode == 1
    assert (
        refused.stderr.strip()
        == "megawatch: headroom needs one profile: --rack RACK or --jobs JOB[,JOB...]"
    )
    out = tmp_path / "energy.html"
    done = megawatch(
        "report", "--page", "energy", "--since", "1h", "--until", until, "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {out} (") and ", 8 charts," in done.stdout
