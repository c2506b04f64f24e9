"""The store across processes: the CLI, persistence, sharing, time zones.

Child processes get their own chDB directory (``subprocess_store_env``) unless a test
shares the pytest process's store with them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.settings import load_settings
from pipeline.store import Store, open_store
from pipeline.store.migrations import load_migrations

pytestmark = pytest.mark.integration


def megawatch(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def python(env: dict[str, str], cwd: Path, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_cli_migrate_status_and_sql(subprocess_store_env: dict[str, str], tmp_path: Path) -> None:
    first = megawatch(subprocess_store_env, tmp_path, "db", "migrate")
    assert first.returncode == 0, first.stderr
    assert "applied 001_raw_tables.sql" in first.stdout
    assert "applied 002_minute_rollups.sql" in first.stdout
    second = megawatch(subprocess_store_env, tmp_path, "db", "migrate")
    assert second.returncode == 0, second.stderr
    bundled = len(load_migrations())
    assert f"is up to date ({bundled} migrations applied)" in second.stdout

    status = megawatch(subprocess_store_env, tmp_path, "db", "status")
    assert status.returncode == 0, status.stderr
    assert f"migrations: {bundled} applied, 0 pending" in status.stdout
    table_lines = {
        line.split()[0]: line.split()
        for line in status.stdout.splitlines()
        if line.startswith(("rack_power ", "gpu_1m "))
    }
    assert table_lines["rack_power"][1:3] == ["MergeTree", "0"]
    assert table_lines["gpu_1m"][-2:] == ["730", "d"]

    result = megawatch(subprocess_store_env, tmp_path, "sql", "SELECT 1", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [{"1": 1}]


def test_sql_error_is_one_line(subprocess_store_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "child-store").mkdir()  # a store without tables (a read creates none)
    result = megawatch(subprocess_store_env, tmp_path, "sql", "SELECT * FROM no_such_table")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("megawatch: query failed on chdb://")
    assert "UNKNOWN_TABLE" in result.stderr


WRITE_ROWS = """
from datetime import datetime, timezone
from pipeline.settings import load_settings
from pipeline.store import open_store
with open_store(load_settings()) as store:
    store.migrate()
    ts = [datetime(2026, 11, 20, 10, 15, s, tzinfo=timezone.utc) for s in (1, 2)]
    store.insert_columns("rack_power", ["site", "rack", "ts", "power_w", "kafka_partition",
                         "kafka_offset"], [["ams-1"] * 2, ["r01"] * 2, ts, [1000.0, 3000.0],
                         [0, 0], [1, 2]], dedup_token="rack_power:0:1-2")
"""


def test_rows_survive_into_a_new_process(
    subprocess_store_env: dict[str, str], tmp_path: Path
) -> None:
    wrote = python(subprocess_store_env, tmp_path, WRITE_ROWS)
    assert wrote.returncode == 0, wrote.stderr
    read = megawatch(
        subprocess_store_env,
        tmp_path,
        "sql",
        "--format",
        "json",
        "SELECT site, ts, power_w FROM rack_power ORDER BY ts",
    )
    assert read.returncode == 0, read.stderr
    assert json.loads(read.stdout) == [
        {"site": "ams-1", "ts": "2026-11-20T10:15:01.000Z", "power_w": 1000.0},
        {"site": "ams-1", "ts": "2026-11-20T10:15:02.000Z", "power_w": 3000.0},
    ]
    rollup = megawatch(
        subprocess_store_env,
        tmp_path,
        "sql",
        "--format",
        "csv",
        "SELECT sum(samples), sum(sum_w) / sum(samples) FROM rack_power_1m",
    )
    assert rollup.stdout.splitlines()[1] == "2,2000"


def test_a_store_open_here_is_shared_with_a_child_process(
    store: Store, tmp_path: Path, subprocess_store_env: dict[str, str]
) -> None:
    """Both processes reach the one embedded store through its server: the child's
    `db status` sees the migrations this process applied (no "in use" refusal)."""
    env = {**subprocess_store_env, "MEGAWATCH_CLICKHOUSE_DSN": store.settings.store_dsn}
    result = megawatch(env, tmp_path, "db", "status")
    assert result.returncode == 0, result.stderr
    assert "0 pending" in result.stdout
    assert store.query_rows("SELECT 1") == [(1,)]


def test_two_directories_in_this_process(store: Store, tmp_path: Path) -> None:
    """A process may use several embedded stores: each has its own server."""
    from pipeline.store import owner

    other = load_settings(clickhouse_dsn=f"chdb://{tmp_path / 'other'}")
    try:
        with open_store(other) as second:
            second.command("CREATE TABLE only_here (x UInt8) ENGINE = Memory")
            assert second.query_rows("EXISTS TABLE only_here") == [(1,)]
        assert store.query_rows("EXISTS TABLE only_here") == [(0,)]
    finally:
        owner.stop(tmp_path / "other")


TIME_ZONE_CHECK = """
import json
from datetime import datetime, timedelta, timezone
from pipeline.settings import load_settings
from pipeline.store import open_store
T = datetime(2026, 11, 20, 10, 15, 1, 250000, tzinfo=timezone.utc)
out = {}
with open_store(load_settings()) as store:
    store.migrate()
    names = ["site", "rack", "ts", "power_w", "kafka_partition", "kafka_offset"]
    store.insert_columns("rack_power", names, [["a"], ["aware"], [T], [1.0], [0], [1]])
    store.insert_columns("rack_power", names, [["a"], ["ms"], [int(T.timestamp() * 1000)],
                                               [1.0], [0], [2]])
    eastern = T.astimezone(timezone(timedelta(hours=-5)))
    store.insert_columns("rack_power", names, [["a"], ["offset"], [eastern], [1.0], [0], [3]])
    rows = store.query_rows("SELECT rack, ts, toString(ts), toString(minute) FROM rack_power "
                            "JOIN rack_power_1m USING (site, rack) ORDER BY rack")
    out["rows"] = [[r, ts.isoformat(), str(ts.tzinfo), text, minute]
                   for r, ts, text, minute in rows]
    frame = store.query_df("SELECT ts, now64(3) AS now FROM rack_power ORDER BY rack")
    out["dtypes"] = [str(frame[c].dtype) for c in frame.columns]
    out["frame"] = [t.isoformat() for t in frame["ts"]]
    out["engine_tz"] = store.query_rows("SELECT timezone()")[0][0]
print(json.dumps(out))
"""


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata"])
def test_utc_times_in_a_process_with_another_time_zone(
    zone: str, subprocess_store_env: dict[str, str], tmp_path: Path
) -> None:
    result = python({**subprocess_store_env, "TZ": zone}, tmp_path, TIME_ZONE_CHECK)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["engine_tz"] == zone  # the engine really runs in that zone
    expected = [
        "2026-11-20T10:15:01.250000+00:00",
        "UTC",
        "2026-11-20 10:15:01.250",
        "2026-11-20 10:15:00.000",
    ]
    assert out["rows"] == [[rack, *expected] for rack in ("aware", "ms", "offset")]
    assert out["dtypes"] == ["datetime64[ms, UTC]", "datetime64[ms, UTC]"]
    assert out["frame"] == ["2026-11-20T10:15:01.250000+00:00"] * 3
