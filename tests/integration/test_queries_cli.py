"""``megawatch query``, ``digest`` and ``report`` as a user runs them: subprocesses on their
own chDB store, loaded with the fixed data set of test_queries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent
UNTIL = "2026-11-20T10:10:00Z"
LOAD = """
from test_queries import load_fixed_data
from pipeline.settings import load_settings
from pipeline.store import open_store
with open_store(load_settings()) as store:
    store.migrate()
    load_fixed_data(store)
"""


def megawatch(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def loaded_env(subprocess_store_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    env = {
        **subprocess_store_env,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", LOAD],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return env


def test_query_list_needs_no_store(subprocess_store_env: dict[str, str], tmp_path: Path) -> None:
    done = megawatch(subprocess_store_env, tmp_path, "query", "--list")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    names = [line.split()[0] for line in lines if line and not line.startswith(" ")]
    assert {
        "fleet_ledger",
        "site_headroom",
        "top_racks",
        "sites_above_warning",
        "gpu_efficiency",
        "idle_power",
        "link_loss",
        "wan_loss_by_site_pair",
        "alert_history",
        "dead_letters",
    } <= set(names)
    ledger = next(line for line in lines if line.startswith("fleet_ledger "))
    assert "Fleet MW ledger" in ledger
    assert not (tmp_path / "child-store").exists()  # listing opened no store


def test_query_runs_with_params_and_formats(loaded_env: dict[str, str], tmp_path: Path) -> None:
    done = megawatch(
        loaded_env,
        tmp_path,
        "query",
        "fleet_ledger",
        "--param",
        f"until={UNTIL}",
        "-p",
        "since_s=1h",
        "--format",
        "json",
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    fleet = next(row for row in rows if row["level"] == "fleet")
    # hand-worked in test_queries: 12.2 MW now against 15 MW of caps, coincident peak 14.2
    assert (fleet["now_mw"], fleet["cap_mw"], fleet["coincident_peak_mw"]) == (12.2, 15.0, 14.2)
    assert fleet["now_at"] == "2026-11-20T10:02:45.000Z"

    table = megawatch(
        loaded_env,
        tmp_path,
        "query",
        "top_racks",
        "-p",
        f"until={UNTIL}",
        "-p",
        "since_s=1h",
        "-p",
        "limit=1",
    )
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[1].split()[:3] == ["fra-2", "r09", "400"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["query", "no_such_query"], "megawatch: unknown named query 'no_such_query': known: "),
        (
            ["query", "top_racks", "-p", "limit=many"],
            "megawatch: query top_racks: parameter limit=many is not a valid UInt32",
        ),
        (
            ["query", "top_racks", "-p", "colour=red"],
            "megawatch: query top_racks: unknown parameter 'colour'",
        ),
        (["query", "top_racks", "-p", "limit"], "megawatch: --param 'limit': expected NAME=VALUE"),
    ],
)
def test_query_errors_are_one_line(
    subprocess_store_env: dict[str, str], tmp_path: Path, args: list[str], message: str
) -> None:
    done = megawatch(subprocess_store_env, tmp_path, *args)
    assert done.returncode == 1
    assert done.stderr.startswith(message) and done.stderr.count("\n") == 1, done.stderr


def test_query_on_a_store_without_tables_says_to_migrate(
    subprocess_store_env: dict[str, str], tmp_path: Path
) -> None:
    done = megawatch(subprocess_store_env, tmp_path, "query", "dead_letters")
    assert done.returncode == 1
    assert "megawatch db migrate" in done.stderr


def test_digest_and_report_commands(loaded_env: dict[str, str], tmp_path: Path) -> None:
    digest = megawatch(loaded_env, tmp_path, "digest", "--since", "1h", "--until", UNTIL)
    assert digest.returncode == 0, digest.stderr
    lines = digest.stdout.splitlines()
    assert lines[0] == (
        "megawatch digest for the fleet, 2026-11-20 09:10 - 2026-11-20 10:10 "
        "UTC: top 5 of 10 findings"
    )
    assert lines[1].startswith("1. [critical] WAN link ams-fra-1")
    assert len(lines) == 6

    out = tmp_path / "report.html"
    report = megawatch(
        loaded_env, tmp_path, "report", "--since", "1h", "--until", UNTIL, "--out", str(out)
    )
    assert report.returncode == 0, report.stderr
    assert "5 charts" in report.stdout
    assert out.read_text().count('class="plotly-graph-div"') == 5
