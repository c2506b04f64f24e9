"""Store errors explained in the user's terms: no FORMAT suffix of ours, a caret under
the column, and a migration hint only when the store has no tables."""

from __future__ import annotations

from pipeline.store.sql_errors import explain_sql_error

SYNTAX = (
    "query failed on chdb:///d: Received ClickHouse exception, code: 62, server response: "
    "Code: 62. DB::Exception: Syntax error: failed at position 7 (1) (line 1, col 7): "
    "1 FORMAT Native. Expected one of: token sequence, Dot, token, OR, AND, IS NOT DISTINCT "
    "FROM, IS DISTINCT FROM, IS NULL, BETWEEN... (for url http://127.0.0.1:41234)"
)
UNKNOWN = (
    "Code: 60. DB::Exception: Unknown table expression identifier 'site_powr'. (UNKNOWN_TABLE)"
)


def test_syntax_error_points_into_the_users_query() -> None:
    text = explain_sql_error(SYNTAX, "SELEC 1")
    assert "FORMAT" not in text and "for url" not in text and "Received" not in text
    assert text.endswith("\n  SELEC 1\n        ^")
    assert "Expected one of: token sequence, Dot, token, OR, AND, IS NOT DISTINCT FROM, …" in text


def test_caret_on_the_right_line_of_a_multi_line_query() -> None:
    message = "Syntax error: failed at position 17 (y) (line 2, col 8): y z FORMAT Native."
    text = explain_sql_error(message, "SELECT 1\nFROM x y z")
    assert text.endswith("  FROM x y z\n         ^")


def test_unknown_table_lists_tables_instead_of_suggesting_a_migration() -> None:
    tables = ["site_power", "site_power_1m", "site_power_1m_mv", "alerts"]
    text = explain_sql_error(UNKNOWN, "SELECT * FROM site_powr", tables)
    assert "db migrate" not in text
    assert text.endswith("(tables: alerts, site_power, site_power_1m)")


def test_a_store_without_tables_is_told_to_migrate() -> None:
    text = explain_sql_error(UNKNOWN, "SELECT * FROM site_power", [])
    assert "megawatch db migrate" in text
