"""`megawatch sql` is safe to leave to anyone who can type a query (issue 10 item 4).

Each statement of the attack list is refused on its parsed tree before it runs, nothing
it would have written exists afterwards, and the store goes on working.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
