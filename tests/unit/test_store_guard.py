"""The read-query guard on ``EXPLAIN AST`` trees as ClickHouse prints them."""

from __future__ import annotations

import re

import pytest

from pipeline.errors import QueryError
from pipeline.settings import load_settings
from pipeline.store.guard import SYSTEM_TABLES, check_tree, own_rows_only, parse_ast, read_limits


def tree(text: str) -> list[str]:
    return text.strip("\n").splitlines()


SELECT_FROM_FILE = tree("""
SelectWithUnionQuery (children 2)
 ExpressionList (children 1)
  SelectQuery (children 2)
   ExpressionList (children 1)
    Asterisk
   TablesInSelectQuery (children 1)
    TablesInSelectQueryElement (children 1)
     TableExpression (children 1)
      Function file (children 1)
       ExpressionList (children 2)
        Literal '/etc/passwd'
        Literal 'LineAsString'
 Identifier Native
""")

INTO_OUTFILE = tree("""
SelectWithUnionQuery (children 3)
 ExpressionList (children 1)
  SelectQuery (children 1)
   ExpressionList (children 1)
    Literal UInt64_1
 Literal '/tmp/x'
 Identifier Native
""")

IN_SYSTEM_TABLE = tree("""
SelectWithUnionQuery (children 2)
 ExpressionList (children 1)
  SelectQuery (children 3)
   ExpressionList (children 1)
    Identifier a
   TablesInSelectQuery (children 1)
    TablesInSelectQueryElement (children 1)
     TableExpression (children 1)
      TableIdentifier mw.t
   Function in (children 1)
    ExpressionList (children 2)
     Identifier a
     Identifier system.users
 Identifier Native
""")

PLAIN = tree("""
SelectWithUnionQuery (children 2)
 ExpressionList (children 1)
  SelectQuery (children 2)
   ExpressionList (children 1)
    Function count (children 1)
     ExpressionList
   TablesInSelectQuery (children 1)
    TablesInSelectQueryElement (children 1)
     TableExpression (children 1)
      TableIdentifier mw.rack_power
 Identifier Native
""")


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        (SELECT_FROM_FILE, "table function file()"),
        (INTO_OUTFILE, "INTO OUTFILE"),
        (IN_SYSTEM_TABLE, "system.users is outside"),
        (tree("InsertQuery   (children 2)\n Function file (children 1)"), "only SELECT"),
    ],
)
def test_refused(lines: list[str], reason: str) -> None:
    with pytest.raises(QueryError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        check_tree(parse_ast(lines), "mw")


def test_a_select_on_own_tables_passes() -> None:
    root = parse_ast(PLAIN)
    assert root.kind == "SelectWithUnionQuery" and root.children[0].kind == "ExpressionList"
    check_tree(root, "mw")


# --- reads that look around (issue 19): trees as chDB 26.9 and ClickHouse 24.8 print them

SHOW_TABLES = tree("""
ShowTables (children 1)
 Identifier Native
""")

SHOW_TABLES_FROM = tree("""
ShowTables (children 2)
 Identifier mw
 Identifier Native
""")

SHOW_CREATE = tree("""
ShowCreateTableQuery mw alerts (children 3)
 Identifier mw
 Identifier alerts
 Identifier Native
""")

DESCRIBE_FILE = tree("""
DescribeQuery (children 2)
 TableExpression (children 1)
  Function file (children 1)
   ExpressionList (children 1)
    Literal '/etc/passwd'
 Identifier Native
""")


def select_from(table: str) -> list[str]:
    return [line.replace("mw.rack_power", table) for line in PLAIN]


def describe(table: str) -> list[str]:
    return tree(f"""
DescribeQuery (children 2)
 TableExpression (children 1)
  TableIdentifier {table}
 Identifier Native
""")


def explain(kind: str, lines: list[str], options: bool = False) -> list[str]:
    """``EXPLAIN kind [options] <lines>``: the explained tree one level down."""
    head = [f"Explain {kind} (children 2)"] + ([" Set"] if options else [])
    return head + [f" {line}" for line in lines]


@pytest.mark.parametrize(
    ("lines", "canonical"),
    [
        (SHOW_TABLES, "SHOW TABLES"),
        (SHOW_TABLES, "SHOW FULL TABLES NOT ILIKE 'rack\\'%' LIMIT 3"),
        (SHOW_TABLES_FROM, "SHOW TABLES FROM mw LIKE 'rack%'"),
        (SHOW_CREATE, "SHOW CREATE TABLE mw.alerts"),
        (describe("rack_power"), "DESCRIBE TABLE rack_power"),
        (describe("system.columns"), "DESCRIBE TABLE system.columns"),
        (select_from("system.tables"), "SELECT count() FROM system.tables"),
        (select_from("`system`.`parts`"), "SELECT count() FROM `system`.`parts`"),
        # EXPLAIN AST prints aliases raw: `AS t`, AS `x) (alias y`
        (select_from("system.tables (alias t)"), "SELECT count() FROM system.tables AS t"),
        (select_from("system.tables (alias x) (alias y)"), "..."),
        (select_from("mw.rack_power (alias other.x)"), "..."),
        (explain("EXPLAIN PLAN", PLAIN[:-1], options=True), "EXPLAIN PLAN indexes = 1 ..."),
        (explain("EXPLAIN PIPELINE", select_from("system.columns")), "EXPLAIN PIPELINE ..."),
        (explain("EXPLAIN AST", PLAIN), "EXPLAIN AST ..."),  # FORMAT goes to the inner one
    ],
)
def test_introspection_passes(lines: list[str], canonical: str) -> None:
    check_tree(parse_ast(lines), "mw", canonical)


@pytest.mark.parametrize(
    ("lines", "canonical", "reason"),
    [
        (SHOW_TABLES, "SHOW DATABASES", "only SELECT"),  # the same tree as SHOW TABLES
        (SHOW_TABLES, "SHOW DICTIONARIES", "only SELECT"),
        (SHOW_TABLES, "SHOW TABLES WHERE name IN (SELECT x FROM other.t)", "only SELECT"),
        (SHOW_TABLES, "SHOW TABLES LIMIT 1 + 1", "only SELECT"),
        (SHOW_TABLES, "SHOW TABLES\nINTO OUTFILE '/tmp/x'", "only SELECT"),
        (SHOW_TABLES, "SHOW TABLES\nFORMAT JSON", "only SELECT"),
        (SHOW_TABLES_FROM, "SHOW TABLES FROM other", "other is outside"),
        (SHOW_TABLES_FROM, "SHOW TABLES FROM system", "system is outside"),
        (SHOW_TABLES_FROM, "SHOW TABLES FROM `mw.x`", "`mw.x` is outside"),
        (SHOW_CREATE, "SHOW CREATE TABLE other.alerts", "other.alerts is outside"),
        (SHOW_CREATE, "SHOW CREATE TABLE system.users", "system.users is outside"),
        (SHOW_CREATE, "SHOW CREATE DATABASE mw", "only SELECT"),
        (SHOW_CREATE, "SHOW CREATE TEMPORARY TABLE alerts", "only SELECT"),
        (tree("ShowCreateDatabaseQuery mw  (children 1)\n Identifier mw"), "", "only SELECT"),
        (describe("system.users"), "", "system.users is outside"),
        (describe("other.secret"), "", "other.secret is outside"),
        (DESCRIBE_FILE, "", "table function file()"),
        (select_from("system.TABLES"), "", "system.TABLES is outside"),  # names are exact
        (select_from("SYSTEM.tables"), "", "SYSTEM.tables is outside"),
        (select_from("system.databases"), "", "system.databases is outside"),
        (select_from("other.secret (alias system.tables)"), "", "other.secret is outside"),
        (select_from("other.secret (alias mw.x)"), "", "other.secret is outside"),
        (select_from("information_schema.tables"), "", "information_schema.tables is outside"),
        (explain("EXPLAIN", SELECT_FROM_FILE), "", "table function file()"),
        (explain("EXPLAIN", INTO_OUTFILE), "", "INTO OUTFILE"),
        (explain("EXPLAIN", IN_SYSTEM_TABLE), "", "system.users is outside"),
        (explain("EXPLAIN", ["InsertQuery   (children 1)", " Identifier t"]), "", "of a SELECT"),
        (explain("EXPLAIN TABLE OVERRIDE", PLAIN), "", "of a SELECT"),
        (explain("EXPLAIN", describe("rack_power")), "", "of a SELECT"),
    ],
)
def test_introspection_refused(lines: list[str], canonical: str, reason: str) -> None:
    with pytest.raises(QueryError, match=re.escape(reason)):
        check_tree(parse_ast(lines), "mw", canonical)


def test_system_tables_are_filtered_to_the_current_database() -> None:
    limits = read_limits(load_settings())
    assert limits["additional_table_filters"] == own_rows_only()
    for table in SYSTEM_TABLES:
        assert f"'{table}': 'database = currentDatabase()'" in own_rows_only()
