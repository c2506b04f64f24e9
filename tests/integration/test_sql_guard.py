"""`megawatch sql` is safe to leave to anyone who can type a query (issue 10 item 4).

Each statement of the attack list is refused on its parsed tree before it runs, nothing
it would have written exists afterwards, and the store goes on working. A user may look
around (issue 19): SHOW TABLES, SHOW CREATE TABLE, DESCRIBE, EXPLAIN and the system
tables tables/columns/parts pass, and show megawatch's own database only, however the
query is written; this is checked through the `megawatch sql` command itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.errors import QueryError, StoreError
from pipeline.settings import Settings
from pipeline.store import Store
from pipeline.store.reader import read_query

pytestmark = pytest.mark.integration


def attacks(tmp: Path) -> list[tuple[str, str]]:
    return [
        ("SELECT * FROM file('/etc/passwd', 'LineAsString')", "table function file()"),
        (f"INSERT INTO FUNCTION file('{tmp}/a.tsv', 'TSV') SELECT 1", "only SELECT"),
        (f"SELECT 1 INTO OUTFILE '{tmp}/b.tsv'", "INTO OUTFILE"),
        ("SELECT * FROM url('http://127.0.0.1:9/x', 'LineAsString')", "table function url()"),
        ("SELECT * FROM executable('id', 'TSV', 'x String')", "table function executable()"),
        ("SELECT sleepEachRow(3) FROM rack_power", "function sleepEachRow()"),
        ("SELECT sleep(3)", "function sleep()"),
        ("SELECT file('/etc/passwd')", "function file()"),
        ("SELECT * FROM remote('127.0.0.1', system.one)", "table function remote()"),
        ("SELECT * FROM system.users", "outside the store's database"),
        ("SELECT 1 WHERE 1 IN system.users", "outside the store's database"),
        ("SELECT count() FROM rack_power; DROP TABLE rack_power", "Multi-statements"),
        ("SELECT 1 SETTINGS max_execution_time = 100000", "SETTINGS"),
        ("DROP TABLE rack_power", "only SELECT"),
        ("SELECT dictGet('d', 'x', 1)", "function dictGet()"),
    ]


def test_every_attack_is_refused_and_changes_nothing(store: Store, tmp_path: Path) -> None:
    settings = store.settings
    for sql, reason in attacks(tmp_path):
        with pytest.raises(QueryError) as caught:
            read_query(settings, sql, untrusted=True)
        first_line = str(caught.value).splitlines()[0]  # then maybe a caret under the error
        assert first_line.startswith("query refused: ") and reason in first_line, (sql, first_line)
    assert list(tmp_path.iterdir()) == []  # no file written
    assert store.query_rows("EXISTS TABLE rack_power") == [(1,)]


def test_reads_of_megawatch_tables_pass(store: Store) -> None:
    settings = store.settings
    database = store.target.database
    allowed = [
        "SELECT count() AS n FROM rack_power",
        f"SELECT count() AS n FROM {database}.rack_power",
        "WITH w AS (SELECT site FROM rack_power) SELECT count() AS n FROM w",
        "SELECT count() AS n FROM site_power WHERE site IN (SELECT site FROM rack_power)",
    ]
    for sql in allowed:
        assert read_query(settings, sql, untrusted=True)["n"].tolist() == [0], sql


def test_a_query_runs_bounded(store: Store) -> None:
    bounded = store.settings.model_copy(update={"sql_max_result_rows": 1})
    store.command(
        "INSERT INTO rack_power (site, rack, ts, power_w) "
        "SELECT 'a', toString(number), now64(3), 1 FROM numbers(5)"
    )
    with pytest.raises(StoreError) as caught:  # refused by the engine, not the guard
        read_query(bounded, "SELECT rack FROM rack_power", untrusted=True)
    assert "TOO_MANY_ROWS" in str(caught.value) or "Limit for result" in str(caught.value)


def test_the_cli_refuses_in_one_line(
    store: Store, tmp_path: Path, subprocess_store_env: dict[str, str]
) -> None:
    env = {**subprocess_store_env, "MEGAWATCH_CLICKHOUSE_DSN": store.settings.store_dsn}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "sql",
            "SELECT * FROM file('/etc/passwd', 'LineAsString')",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr == "megawatch: query refused: table function file() is not allowed\n"
    assert "root:" not in result.stdout


def test_settings_of_this_suite(store_settings: Settings) -> None:
    """Guard the limits themselves: a read never runs unbounded."""
    from pipeline.store.guard import read_limits

    limits = read_limits(store_settings)
    assert limits["readonly"] == 2 and limits["result_overflow_mode"] == "throw"
    assert limits["max_execution_time"] == store_settings.sql_timeout_s


# --- looking around (issue 19), through the command as a user runs it -------------------


@pytest.fixture
def other_database(store: Store) -> Iterator[str]:
    """A second database in the same engine, holding a table and a part: none of it may
    show through `megawatch sql`."""
    name = f"other_{uuid.uuid4().hex[:8]}"
    store.command(f"CREATE DATABASE {name}")
    store.command(f"CREATE TABLE {name}.secret (x String) ENGINE = MergeTree ORDER BY x")
    store.command(f"INSERT INTO {name}.secret VALUES ('hidden')")
    try:
        yield name
    finally:
        store.command(f"DROP DATABASE IF EXISTS {name} SYNC")


def run_sql(env: dict[str, str], cwd: Path, query: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "sql", query, "--format", "json"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def rows_of(env: dict[str, str], cwd: Path, query: str) -> list[dict[str, Any]]:
    done = run_sql(env, cwd, query)
    assert done.returncode == 0, (query, done.stderr)
    return json.loads(done.stdout) if done.stdout.strip() else []


@pytest.fixture
def cli_env(store: Store, subprocess_store_env: dict[str, str]) -> dict[str, str]:
    return {**subprocess_store_env, "MEGAWATCH_CLICKHOUSE_DSN": store.settings.store_dsn}


def own_tables(store: Store) -> list[str]:
    """The store's tables, read by megawatch itself (unguarded, trusted SQL)."""
    rows = store.query_rows(
        "SELECT name FROM system.tables WHERE database = {d:String} ORDER BY name",
        {"d": store.target.database},
    )
    return [str(row[0]) for row in rows]


def test_show_tables_describe_show_create_and_explain_pass(
    store: Store, other_database: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    database = store.target.database
    tables = own_tables(store)
    assert "rack_power" in tables and "secret" not in tables

    def names(query: str) -> list[str]:
        return [row["name"] for row in rows_of(cli_env, tmp_path, query)]

    assert names("SHOW TABLES") == tables
    assert names(f"show tables from {database}") == tables
    assert names("SHOW TABLES LIKE 'rack%'") == [t for t in tables if t.startswith("rack")]
    assert (
        names("/* which ones? */ SHOW FULL TABLES NOT ILIKE '%_MV' LIMIT 3")
        == [t for t in tables if not t.endswith("_mv")][:3]
    )

    described = names("DESCRIBE TABLE alerts")
    assert described[described.index("rack") + 1] == "domain"  # migration 007
    assert names("desc system.parts")[:2] == ["partition", "name"]
    created = rows_of(cli_env, tmp_path, "SHOW CREATE TABLE alerts")[0]["statement"]
    assert f"CREATE TABLE {database}.alerts" in created
    assert "`domain` LowCardinality(String) DEFAULT ''" in created
    view = rows_of(cli_env, tmp_path, f"SHOW CREATE VIEW {database}.site_power_per_minute")
    assert "FROM " in view[0]["statement"] and "site_power_1m" in view[0]["statement"]

    for kind in ("", "PLAN indexes = 1", "PIPELINE", "AST", "SYNTAX", "QUERY TREE", "ESTIMATE"):
        plan = run_sql(cli_env, tmp_path, f"EXPLAIN {kind} SELECT count() FROM rack_power")
        assert plan.returncode == 0, (kind, plan.stderr)
    syntax = rows_of(cli_env, tmp_path, "EXPLAIN SYNTAX SELECT site FROM rack_power WHERE 1")
    assert "FROM rack_power" in "\n".join(row["explain"] for row in syntax)


def test_system_tables_show_the_own_database_only(
    store: Store, other_database: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    database, other = store.target.database, other_database
    # the truth, read by megawatch itself: the other database is there, with a part
    truth = f"SELECT count() FROM system.parts WHERE database = '{other}' AND active"
    assert store.query_rows(truth) == [(1,)]
    tables = own_tables(store)

    def values(query: str) -> list[Any]:
        return [next(iter(row.values())) for row in rows_of(cli_env, tmp_path, query)]

    own = [database]
    assert values("SELECT name FROM system.tables ORDER BY name") == tables
    hostile = [
        f"SELECT DISTINCT database FROM system.tables WHERE 1 OR database = '{other}'",
        "SELECT DISTINCT database FROM system.columns WHERE database != currentDatabase() OR 1",
        f"SELECT DISTINCT database FROM system.tables UNION DISTINCT "
        f"SELECT database FROM system.parts WHERE database = '{other}' UNION DISTINCT "
        f"SELECT database FROM system.columns WHERE table = 'secret'",
        f"SELECT DISTINCT t.database FROM system.tables AS t "
        f"JOIN system.columns AS c ON c.table = t.name WHERE c.database = '{other}' OR 1",
        "WITH everything AS (SELECT * FROM system.tables) SELECT DISTINCT database FROM everything",
        "SELECT DISTINCT database FROM (SELECT database FROM `system`.`tables`)",
        "/* all */ select distinct database FROM system.tables -- of them",
    ]
    for query in hostile:
        assert values(query) == own, query
    nothing = [
        f"SELECT name FROM system.tables WHERE database = '{other}'",
        f"SELECT name FROM system.columns WHERE table = 'secret' OR database = '{other}'",
        f"SELECT name FROM system.parts WHERE database = '{other}'",
        "SELECT name FROM system.tables WHERE database IN "
        "(SELECT database FROM system.parts WHERE database != currentDatabase())",
    ]
    for query in nothing:
        assert values(query) == [], query
    counted = f"SELECT (SELECT count() FROM system.tables WHERE database = '{other}') AS n"
    assert values(counted) == [0]


def introspection_attacks(tmp: Path, other: str) -> list[tuple[str, str]]:
    return [
        ("SHOW DATABASES", "only SELECT"),
        ("SHOW DICTIONARIES", "only SELECT"),
        (f"SHOW TABLES FROM {other}", "outside the store's database"),
        ("SHOW TABLES FROM system", "outside the store's database"),
        (f"SHOW TABLES WHERE name IN (SELECT x FROM {other}.secret)", "only SELECT"),
        (f"SHOW TABLES INTO OUTFILE '{tmp}/c.tsv'", "only SELECT"),
        ("SHOW TABLES SETTINGS additional_table_filters = {}", "only SELECT"),
        (f"SHOW CREATE TABLE {other}.secret", "outside the store's database"),
        ("SHOW CREATE TABLE system.users", "outside the store's database"),
        (f"SHOW CREATE DATABASE {other}", "only SELECT"),
        ("SHOW CREATE USER default", "only SELECT"),
        ("SHOW GRANTS", "only SELECT"),
        (f"DESCRIBE TABLE {other}.secret", "outside the store's database"),
        (f"DESCRIBE (SELECT * FROM {other}.secret)", "outside the store's database"),
        ("DESCRIBE system.users", "outside the store's database"),
        ("DESCRIBE file('/etc/passwd', 'LineAsString')", "table function file()"),
        ("DESCRIBE url('http://127.0.0.1:9/x', 'CSV')", "table function url()"),
        ("DESCRIBE TABLE rack_power SETTINGS describe_compact_output = 1", "SETTINGS"),
        ("EXPLAIN SELECT * FROM file('/etc/passwd', 'LineAsString')", "table function file()"),
        (f"EXPLAIN SELECT 1 INTO OUTFILE '{tmp}/d.tsv'", "INTO OUTFILE"),
        (f"EXPLAIN INSERT INTO FUNCTION file('{tmp}/e.tsv', 'TSV') SELECT 1", "of a SELECT"),
        ("EXPLAIN SELECT * FROM system.tables SETTINGS additional_table_filters = {}", "SETTINGS"),
        (f"EXPLAIN ESTIMATE SELECT * FROM {other}.secret", "outside the store's database"),
        ("EXPLAIN TABLE OVERRIDE mysql('h', 'd', 't', 'u', 'p') PARTITION BY x", "of a SELECT"),
        ("SELECT * FROM system.tables SETTINGS additional_table_filters = {}", "SETTINGS"),
        (
            "SELECT * FROM (SELECT * FROM system.tables SETTINGS additional_table_filters = {})",
            "SETTINGS",
        ),
        ("SELECT name FROM system.databases", "outside the store's database"),
        (
            "SELECT * FROM system.tables WHERE database IN (SELECT name FROM system.databases)",
            "outside the store's database",
        ),
        (
            f"SELECT name FROM system.tables UNION ALL SELECT x FROM {other}.secret",
            "outside the store's database",
        ),
        ("SELECT * FROM system.TABLES", "outside the store's database"),
        ("SELECT * FROM SYSTEM.tables", "outside the store's database"),
        ("SELECT * FROM information_schema.tables", "outside the store's database"),
        ("SELECT * FROM INFORMATION_SCHEMA.COLUMNS", "outside the store's database"),
        ("SELECT * FROM merge('system', '^tables$')", "table function merge()"),
        ("SELECT * FROM system.query_log", "outside the store's database"),
    ]


def test_the_new_forms_cannot_reach_files_writes_or_other_databases(
    store: Store, other_database: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    work = tmp_path / "cwd"
    work.mkdir()
    for sql, reason in introspection_attacks(tmp_path / "out", other_database):
        done = run_sql(cli_env, work, sql)
        lines = done.stderr.splitlines()
        assert done.returncode == 1 and done.stdout == "", (sql, done.stdout, done.stderr)
        assert lines[0].startswith("megawatch: query refused: ") and reason in lines[0], (
            sql,
            lines,
        )
    assert not (tmp_path / "out").exists()  # no file written
    assert store.query_rows(f"SELECT x FROM {other_database}.secret") == [("hidden",)]
