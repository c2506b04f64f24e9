"""Numbers as exact as the data: durations from the per-second series, rollups readable
with a plain SELECT, `megawatch sql --param`, and the demo's SQL working as printed."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline.analytics.digest import build_digest
from pipeline.analytics.digest_data import gather_inputs, loss_thresholds
from pipeline.demo.summary import EXAMPLES, since_param
from pipeline.settings import Settings
from pipeline.store import Store, named_query

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 20, 10, 0, 30, tzinfo=UTC)
UNTIL = datetime(2026, 11, 20, 10, 5, tzinfo=UTC)


def breach_rows() -> list[dict[str, Any]]:
    """One sample a second from 10:00:30 to 10:01:40 (71 s, a part of two minutes); at
    or over the 4.5 MW warning level for exactly 50 s (10:00:40-10:01:29), over the 5 MW
    cap for 10 s of those."""
    rows = []
    for n in range(71):
        ts = START + timedelta(seconds=n)
        mw = 4.0
        if 10 <= n < 60:
            mw = 5.1 if 20 <= n < 30 else 4.6
        rows.append(
            {
                "site": "ams-1",
                "ts": ts,
                "total_w": mw * 1e6,
                "cap_w": 5e6,
                "warn_w": 4.5e6,
                "headroom_w": (5 - mw) * 1e6,
                "racks": 10,
                "stale_racks": 0,
                "warming": 0,
                "region": "eu",
            }
        )
    return rows


def insert(store: Store, table: str, rows: list[dict[str, Any]]) -> None:
    names = list(rows[0])
    store.insert_columns(table, names, [[row[n] for row in rows] for n in names])


def test_a_50_second_breach_lasts_50_seconds(store: Store) -> None:
    insert(store, "site_power", breach_rows())
    [row] = named_query(store, "sites_above_warning", since_s=3600, until=UNTIL).to_dict("records")
    # minute buckets said 20/30 * 60 + 30/41 * 60 = 83.9 s ("1.4 minutes")
    assert row["seconds_above_warn"] == 50.0
    assert row["seconds_above_cap"] == 10.0
    assert row["minutes_above_warn"] == 0.8

    def run(name: str, **params: Any) -> Any:
        return named_query(store, name, **params)

    digest = build_digest(gather_inputs(run, 3600, UNTIL), loss_thresholds(Settings()), top=5)
    # minute buckets: 10/30 * 60 = 20 s over the cap
    assert "spent 10 s at or above its 5.0 MW cap" in digest.text(), digest.text()


def test_every_rollup_reads_with_a_plain_select(store: Store) -> None:
    insert(store, "site_power", breach_rows())
    rows = store.query_df("SELECT * FROM site_power_per_minute ORDER BY minute").to_dict("records")
    assert [(r["samples"], r["samples_above_warn"], r["cap_w"]) for r in rows] == [
        (30, 20, 5e6),
        (41, 30, 5e6),
    ]
    assert rows[0]["avg_pct_of_cap"] == pytest.approx(
        100 * (10 * 4.0 + 10 * 4.6 + 10 * 5.1) / 30 / 5
    )
    for view in (
        "rack_power_per_minute",
        "gpu_per_minute",
        "link_per_minute",
        "domain_power_per_minute",
    ):
        store.query_df(f"SELECT * FROM {view} LIMIT 1")  # no AggregateFunction column left


def megawatch(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_sql_param_and_the_demos_examples_as_printed(
    subprocess_store_env: dict[str, str], tmp_path: Path
) -> None:
    from pipeline.store import open_store

    settings = Settings(
        clickhouse_dsn=subprocess_store_env["MEGAWATCH_CLICKHOUSE_DSN"],
        data_dir=tmp_path / "child-data",
    )
    with open_store(settings) as store:
        store.migrate()
        insert(store, "site_power", breach_rows())
    since = since_param(START - timedelta(minutes=1))["since"]
    query = "SELECT count() AS n FROM site_power WHERE ts >= {since:DateTime64(3, 'UTC')}"
    run = megawatch(
        ["sql", query, "--param", f"since={since}", "--format", "json"], subprocess_store_env
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == [{"n": 71}]
    # every example the demo prints runs as printed, with the --param it shows
    for example in EXAMPLES:
        run = megawatch(["sql", example.sql, "--param", f"since={since}"], subprocess_store_env)
        assert run.returncode == 0, f"{example.title}: {run.stderr}"
    missing = megawatch(["sql", query], subprocess_store_env)
    assert missing.returncode == 1 and "since" in missing.stderr
    typo = megawatch(["sql", "SELECT * FROM site_powr"], subprocess_store_env)
    assert typo.returncode == 1 and "db migrate" not in typo.stderr and "site_power" in typo.stderr
    syntax = megawatch(["sql", "SELEC 1"], subprocess_store_env)
    assert "FORMAT" not in syntax.stderr and "  SELEC 1\n        ^" in syntax.stderr
