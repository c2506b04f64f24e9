"""Names a command is given are checked against what exists; an empty result still
shows its header; a read on a missing store creates nothing; `alerts list` shows a
condition once, its key figure first (issue 24, items 2, 5, 7 and 9).

The commands run in this process (``pipeline.cli.main``) against the session's real
store server, on the fixed data set of test_queries (sites ams-1, fra-2, ord-1)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from test_queries import insert, load_fixed_data

from pipeline.cli import main
from pipeline.store import Store

pytestmark = pytest.mark.integration

UNTIL = "2026-11-20T10:10:00Z"
Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Run:
    """``megawatch ARGS`` in this process: (exit status, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in [n for n in os.environ if n.startswith("MEGAWATCH_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MEGAWATCH_DATA_DIR", str(tmp_path / "data"))

    def megawatch(*args: str, **env: str) -> tuple[int, str, str]:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        try:
            code = main(list(args)) or 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return megawatch


@pytest.fixture
def loaded(store: Store, run: Run, monkeypatch: pytest.MonkeyPatch) -> Run:
    load_fixed_data(store)
    monkeypatch.setenv("MEGAWATCH_CLICKHOUSE_DSN", store.target.dsn)
    return run


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["sql", "SELECT * FROM site_power WHERE site = {site:String}", "-p", "site=ams"],
            "--param site: unknown site 'ams': did you mean ams-1?",
        ),
        (
            ["query", "site_headroom", "-p", "site=fra-3", "-p", f"until={UNTIL}"],
            "--param site: unknown site 'fra-3': did you mean fra-2?",
        ),
        (
            ["query", "alert_history", "-p", "rule=cap_critcal"],
            "--param rule: unknown rule 'cap_critcal': did you mean cap_critical",
        ),
        (
            ["query", "link_loss", "-p", "link_class=wna"],
            "--param link_class: unknown link class 'wna': did you mean wan?",
        ),
        (["query", "fleet_ledgr"], "unknown named query 'fleet_ledgr': did you mean fleet_ledger"),
        (["alerts", "list", "--site", "ord1"], "--site: unknown site 'ord1': did you mean ord-1?"),
        (
            ["digest", "--site", "nosuch", "--until", UNTIL],
            "--site: unknown site 'nosuch': known: ams-1, fra-2, ord-1 (3 sites known)",
        ),
    ],
)
def test_unknown_names_fail_in_one_line_with_the_closest(
    loaded: Run, args: list[str], message: str
) -> None:
    code, out, err = loaded(*args)
    assert code == 1, (out, err)
    last = err.strip().splitlines()[-1]  # the digest says first that no broker gave specs
    assert last.startswith("megawatch: ") and message in last, err
    assert "nothing to report" not in out


def test_report_of_an_unknown_site_writes_nothing(loaded: Run, tmp_path: Path) -> None:
    out_file = tmp_path / "report.html"
    code, _, err = loaded("report", "--site", "ams-2", "--out", str(out_file))
    assert code == 1
    assert err == (
        "megawatch: --site: unknown site 'ams-2': did you mean ams-1 or fra-2? (3 sites known)\n"
    )
    assert not out_file.exists()


def test_known_names_still_pass(loaded: Run) -> None:
    code, out, err = loaded("query", "top_racks", "-p", "site=ams-1", "-p", f"until={UNTIL}")
    assert code == 0, err
    assert out.splitlines()[1].split()[:2] == ["ams-1", "r01"]


def test_an_empty_result_shows_its_header_and_0_rows(loaded: Run) -> None:
    # ord-1 exists (site power, a WAN link) but has no racks
    args = ["query", "top_racks", "-p", "site=ord-1", "-p", f"until={UNTIL}"]
    code, out, err = loaded(*args)
    assert code == 0, err
    assert out.splitlines() == [
        "site  rack  avg_kw  peak_kw  energy_mwh  minutes_seen",
        "0 rows",
    ]
    code, out, err = loaded(*args, "--format", "csv")
    assert (code, out, err) == (0, "site,rack,avg_kw,peak_kw,energy_mwh,minutes_seen\n", "0 rows\n")
    code, out, err = loaded(*args, "--format", "json")
    assert (code, json.loads(out), err) == (0, [], "0 rows\n")
    code, out, err = loaded("sql", "SELECT site, total_w FROM site_power WHERE total_w < 0")
    assert (code, out) == (0, "site  total_w\n0 rows\n"), err


@pytest.mark.parametrize(
    "args",
    [
        ["sql", "SELECT 1"],
        ["query", "fleet_ledger"],
        ["report"],
        ["digest"],
        ["db", "status"],
        ["alerts", "list"],
        ["sites", "list"],
    ],
)
def test_reads_on_a_missing_store_create_nothing(run: Run, tmp_path: Path, args: list[str]) -> None:
    data_dir = tmp_path / "never-used"
    code, _, err = run(*args, MEGAWATCH_DATA_DIR=str(data_dir))
    assert code == 1
    assert err.count("\n") == 1 and "Traceback" not in err, err
    if args != ["sites", "list"]:  # specs come from a broker, and none runs there
        assert err.startswith(f"megawatch: there is no store yet at {data_dir / 'clickhouse'}")
    assert not data_dir.exists()


def firing(fp: str, rule: str, severity: str, value: float, threshold: float) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "fingerprint": fp * 16,
        "seq": 1,
        "rule": rule,
        "severity": severity,
        "status": "firing",
        "site": "ord-1",
        "link": "",
        "peer_site": "",
        "rack": "",
        "domain": "",
        "value": value,
        "threshold": threshold,
        "starts_at": now,
        "ends_at": None,
        "forecast_at": None,
        "summary": f"site ord-1 draws {value:.2f} MW",
        "test": 0,
        "kafka_partition": 0,
        "kafka_offset": 900 + ord(fp),
    }


def test_alerts_list_shows_a_condition_once_with_its_key_figure_first(
    loaded: Run, store: Store
) -> None:
    """ord-1 is over its cap: cap_warning and cap_critical both fire; the list shows the
    critical one (issue 24 items 5 and 9), --all both."""
    insert(
        store,
        "alerts",
        [
            firing("g", "cap_warning", "warning", 5.3, 4.5),
            firing("h", "cap_critical", "critical", 5.3, 5.0),
        ],
    )
    code, out, err = loaded("alerts", "list", "--site", "ord-1")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == [
        "changed_at", "severity", "status", "site", "figure", "summary", "rule", "value",
        "threshold", "link", "rack", "domain", "starts_at", "ends_at", "seq", "fingerprint",
    ]  # fmt: skip
    assert len(lines) == 2 and lines[1].split()[1:5] == ["critical", "firing", "ord-1", "5.30/5.00"]
    assert lines[1].index("5.30/5.00 MW") < 80
    assert err == "1 warnings not listed: their critical alert fires (--all lists them)\n"
    code, out, err = loaded("alerts", "list", "--site", "ord-1", "--all", "--format", "json")
    assert code == 0 and err == ""
    assert sorted(row["severity"] for row in json.loads(out)) == ["critical", "warning"]
