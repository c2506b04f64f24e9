"""The SQL of the oldest supported ClickHouse server (24.8, as in the compose file's
earlier pin and many production fleets) runs on that server's own engine: chDB 2.1.1
embeds ClickHouse 24.8.4.1 (../shared/MEASURED.md). ``make test-deps`` installs it into
``.venv-ch248``, apart from megawatch's venv (chDB 2.1.1 cannot share a venv with 4.4).

Checked there: every migration; a retried insert with the same deduplication token,
sent with megawatch's insert settings, is stored once *and counted once by the rollup
views* (24.8 defaults deduplicate_blocks_in_dependent_materialized_views to 0: without
the setting the rollup counts it twice); every named query; the SQL guard's decisions
on this server's own parse trees, and its filter on the system tables (a user's reads
see megawatch's database only).
"""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline.errors import QueryError
from pipeline.store.client import INSERT_SETTINGS
from pipeline.store.guard import SYSTEM_TABLES, check_tree, own_rows_only, parse_ast
from pipeline.store.migrations import load_migrations
from pipeline.store.named import named_queries

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv-ch248" / "bin" / "python"
RUNNER = Path(__file__).with_name("clickhouse_248_runner.py")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not PYTHON.exists(), reason="needs .venv-ch248 with chdb==2.1.1 (make test-deps)"
    ),
]


def _settings(**extra: Any) -> str:
    merged = {**INSERT_SETTINGS, **extra}
    return ", ".join(
        f"{k} = {v!r}" if isinstance(v, str) else f"{k} = {v}" for k, v in merged.items()
    )


def _rack_power_insert(token: str, at: datetime) -> str:
    ts = at.strftime("%Y-%m-%d %H:%M:%S.000")
    rows = ", ".join(
        f"('hx-3', 'r{i:02d}', '{ts}', 120000, '', 'test', 0, {i}, 'cluster-a')" for i in range(10)
    )
    return (
        "INSERT INTO rack_power (site, rack, ts, power_w, pdu, source, kafka_partition, "
        f"kafka_offset, kafka_cluster) SETTINGS {_settings(insert_deduplication_token=token)} "
        f"VALUES {rows}"
    )


#: What a user may type into `megawatch sql` (True: the guard lets it pass).
GUARDED = {
    "SHOW TABLES": True,
    "SHOW TABLES FROM megawatch LIKE 'rack%' LIMIT 2": True,
    "DESCRIBE TABLE alerts": True,
    "SHOW CREATE TABLE megawatch.alerts": True,
    "EXPLAIN PLAN indexes = 1 SELECT count() FROM rack_power": True,
    "EXPLAIN AST SELECT 1": True,
    "SELECT name FROM system.tables AS t WHERE 1 OR database = 'x'": True,
    "SELECT count() FROM system.parts": True,
    "SHOW DATABASES": False,
    "SHOW TABLES FROM system": False,
    "SHOW CREATE TABLE system.users": False,
    "DESCRIBE system.users": False,
    "DESCRIBE file('/etc/passwd', 'LineAsString')": False,
    "EXPLAIN INSERT INTO rack_power SELECT * FROM rack_power": False,
    "EXPLAIN SELECT 1 INTO OUTFILE '/tmp/x'": False,
    "SELECT * FROM system.databases": False,
    "SELECT * FROM system.tables AS `system.x` SETTINGS additional_table_filters = {}": False,
}
# What `megawatch sql` runs with, as far as the system tables go (guard.read_limits); as
# a SETTINGS clause: a chDB 2.1.1 session cannot carry a map-valued SET to its next call
_AS_USER = f" SETTINGS additional_table_filters = {own_rows_only()}, readonly = 2"
# Rows of other databases that a read sees: all it sees, less its own database's
_OTHER_DATABASES = "SELECT " + " + ".join(
    f"((SELECT count() FROM {table} WHERE 1 OR database != currentDatabase()) "
    f"- (SELECT count() FROM {table} WHERE database = currentDatabase()))"
    for table in SYSTEM_TABLES
)


def _job() -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    migrations = [
        [f"{m.filename}#{i}", sql]
        for m in load_migrations()
        for i, sql in enumerate(m.statements(), start=1)
    ]
    insert = _rack_power_insert("rack_power:retried-batch", now - timedelta(minutes=2))
    queries = []
    for name, query in sorted(named_queries().items()):
        params = query.bind({}, now=now)
        queries.append([name, {k: str(v) for k, v in params.items()}, query.sql])
    return {
        "migrations": migrations,
        "inserts": [["first", insert], ["retry of the same batch", insert]],
        "counts": [
            ["raw", "SELECT count() FROM rack_power"],
            ["rollup", "SELECT sum(samples) FROM rack_power_per_minute"],
            ["ledger", "SELECT count() FROM ingest_offsets"],
            ["other databases", _OTHER_DATABASES],
            ["other databases, as a user", _OTHER_DATABASES + _AS_USER],
            ["own tables, as a user", "SELECT count() FROM system.tables" + _AS_USER],
        ],
        "reads": [[s, s + _AS_USER] for s, allowed in GUARDED.items() if allowed],
        "explains": list(GUARDED),
        "queries": queries,
    }


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    done = subprocess.run(
        [str(PYTHON), str(RUNNER)],
        input=json.dumps(_job()),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_engine_is_clickhouse_24_8(result: dict[str, Any]) -> None:
    assert result["version"].startswith("24.8.")


def test_every_migration_applies(result: dict[str, Any]) -> None:
    assert result["migrations"] == []


def test_a_retried_insert_is_stored_once_and_counted_once_by_the_rollups(
    result: dict[str, Any],
) -> None:
    assert result["inserts"] == []
    counts = {k: json.loads(v)["data"][0][0] for k, v in result["counts"].items()}
    assert int(counts["raw"]) == 10
    assert int(counts["rollup"]) == 10  # 20 on 24.8 without the MV dedup setting


def test_every_named_query_runs(result: dict[str, Any]) -> None:
    failing = {name: errors for name, errors in result["queries"].items() if errors}
    assert failing == {}


def test_system_tables_show_megawatch_s_database_only(result: dict[str, Any]) -> None:
    counts = {k: int(json.loads(v)["data"][0][0]) for k, v in result["counts"].items()}
    assert counts["other databases"] > 0  # the system database's own tables, at least
    assert counts["other databases, as a user"] == 0
    statements = [s for m in load_migrations() for s in m.statements()]
    created = [s for s in statements if re.search(r"^CREATE (TABLE|VIEW|MATERIALIZED)", s, re.M)]
    assert counts["own tables, as a user"] == len(created)  # every table, view and MV


def test_the_guard_decides_alike_on_this_server_s_trees(result: dict[str, Any]) -> None:
    assert result["reads"] == []  # every allowed read runs on 24.8 (readonly, filtered)
    for statement, allowed in GUARDED.items():
        explained = result["explains"][statement]
        assert isinstance(explained, list), (statement, explained)
        canonical, lines = explained
        if allowed:
            check_tree(parse_ast(lines), "megawatch", canonical)
        else:
            with pytest.raises(QueryError):
                check_tree(parse_ast(lines), "megawatch", canonical)
