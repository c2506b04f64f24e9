"""The read-query guard on ``EXPLAIN AST`` trees as ClickHouse prints them."""

from __future__ import annotations

import pytest

from pipeline.errors import QueryError
from pipeline.store.guard import check_tree, parse_ast


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
