"""Queries users type (``megawatch sql``): one read of megawatch's own tables, bounded.

ClickHouse's ``readonly`` is not a sandbox (MEASURED.md): ``file()``, ``url()``,
``executable()``, ``INTO OUTFILE`` and ``INSERT INTO FUNCTION`` pass it. So a user's
statement is checked on the parsed tree, not with regexes:

1. ``formatQuery`` parses it: one statement, or a syntax error (chDB would otherwise run
   ``SELECT 1; DROP TABLE t`` as two); the canonical text is what runs.
2. ``EXPLAIN AST`` of that text must be one of the reads in :data:`ALLOWED` with no
   ``INTO OUTFILE``, ``FORMAT`` or ``SETTINGS`` (the bounds below must hold): a
   ``SELECT`` (``SelectWithUnionQuery``) whose every table is a table (not a table
   function such as ``file``, ``url``, ``remote``, ``numbers``) of the store's own
   database or one of :data:`SYSTEM_TABLES`, and which calls no function that reaches
   files, processes, dictionaries or stalls the engine (``sleepEachRow``); ``EXPLAIN``
   of such a SELECT; ``DESCRIBE`` of such a table (or subquery); ``SHOW TABLES`` and
   ``SHOW CREATE TABLE`` of the own database, whose canonical text must match a strict
   pattern as well (their tree does not show ``LIKE``, ``LIMIT`` or ``DATABASES``).
3. It runs with ``readonly=2`` and bounded time, result rows/bytes and memory, and with
   ClickHouse's ``additional_table_filters`` limiting every read of the
   :data:`SYSTEM_TABLES` to the store's own database (:func:`read_limits`). ClickHouse
   applies that filter where it reads the table, wherever the table appears (a
   subquery, a UNION, a JOIN, the query ``SHOW TABLES`` runs), so no condition a user
   writes (``WHERE 1 OR database = 'x'``) can widen it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipeline.errors import QueryError

if TYPE_CHECKING:
    from pipeline.settings import Settings
    from pipeline.store.client import Store

#: Scalar functions that read files or processes, look into other tables or stall.
BLOCKED_FUNCTIONS = frozenset(
    {
        "file",
        "sleep",
        "sleepeachrow",
        "hascolumnintable",
        "filesystemavailable",
        "filesystemcapacity",
        "filesystemunreserved",
        "catboostevaluate",
        "addresstoline",
        "addresstolinewithinlines",
        "addresstosymbol",
        "demangle",
        "getsubcolumn",
        "input",
    }
)
_BLOCKED_PREFIXES = ("dictget", "dicthas", "joinget", "dictisin")
_IN_FUNCTIONS = frozenset(
    {"in", "notin", "globalin", "globalnotin", "nullin", "notnullin", "globalnullin"}
)
_LINE = re.compile(r"^( *)(\w+)(?: +(?!\(children)(.*?))?(?: +\(children \d+\))?\s*$")
_MAX_MEMORY = 2 * 1024**3

#: System tables a user may read, each only for the rows of the store's own database.
SYSTEM_TABLES = ("system.tables", "system.columns", "system.parts")
_OWN_ROWS = "database = currentDatabase()"
#: What a user may run, as the refusal names it.
ALLOWED = "SELECT, EXPLAIN SELECT, DESCRIBE, SHOW TABLES and SHOW CREATE TABLE"
_EXPLAIN_KINDS = frozenset(
    f"EXPLAIN{kind}"
    for kind in ("", " AST", " SYNTAX", " QUERY TREE", " PLAN", " PIPELINE", " ESTIMATE")
)
# Canonical text (formatQuery's) of the SHOW statements allowed: no WHERE (it could hold
# a subquery), a plain LIMIT. The database, if named, is checked afterwards.
_IDENT = r"(?:[A-Za-z_][A-Za-z0-9_]*|`(?:[^`\\]|\\.)*`)"
_SHOW_TABLES = re.compile(
    rf"^SHOW (?:FULL )?TABLES(?: FROM (?P<db>{_IDENT}))?"
    r"(?: (?:NOT )?I?LIKE '(?:[^'\\]|\\.)*')?(?: LIMIT \d+)?$"
)
_SHOW_CREATE = re.compile(
    rf"^SHOW CREATE (?:TABLE|VIEW) (?:(?P<db>{_IDENT})\.)?(?P<table>{_IDENT})$"
)


@dataclass
class Node:
    kind: str
    name: str
    children: list[Node] = field(default_factory=list)


def read_limits(settings: Settings) -> dict[str, Any]:
    """The settings every read query from the CLI runs with."""
    return {
        "readonly": 2,
        "max_execution_time": settings.sql_timeout_s,
        "max_result_rows": settings.sql_max_result_rows,
        "max_result_bytes": settings.sql_max_result_bytes,
        "result_overflow_mode": "throw",
        "max_memory_usage": _MAX_MEMORY,
        "additional_table_filters": own_rows_only(),
    }


def own_rows_only() -> str:
    """``additional_table_filters`` (a ClickHouse map literal) keeping every read of the
    :data:`SYSTEM_TABLES` to the rows of the query's own (current) database."""
    entries = ", ".join(f"'{table}': '{_OWN_ROWS}'" for table in SYSTEM_TABLES)
    return "{" + entries + "}"


def checked_read(store: Store, sql: str, params: dict[str, Any] | None = None) -> str:
    """The canonical text of ``sql`` if it is a read allowed here, else QueryError."""
    from pipeline.errors import StoreError

    try:
        canonical = str(store.query_rows("SELECT formatQuery({q:String})", {"q": sql})[0][0])
        lines = [str(row[0]) for row in store.query_rows(f"EXPLAIN AST {canonical}", params)]
    except StoreError as exc:
        raise QueryError(f"query refused: {_reason(str(exc))}") from exc
    database = str(store.query_rows("SELECT currentDatabase()")[0][0])
    check_tree(parse_ast(lines), database, canonical)
    return canonical


def parse_ast(lines: list[str]) -> Node:
    """The tree ``EXPLAIN AST`` prints (one node per line, one space of indent per level)."""
    root: Node | None = None
    stack: list[tuple[int, Node]] = []
    for line in lines:
        if not line.strip():
            continue
        match = _LINE.match(line)
        if match is None:
            raise QueryError(f"query refused: cannot read the parsed query ({line.strip()[:60]})")
        depth, node = len(match.group(1)), Node(match.group(2), match.group(3) or "")
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            stack[-1][1].children.append(node)
        elif root is None:
            root = node
        else:
            raise QueryError("query refused: one statement only")
        stack.append((depth, node))
    if root is None:
        raise QueryError("query refused: empty query")
    return root


def check_tree(root: Node, database: str, canonical: str = "") -> None:
    """Refuse (QueryError) what is not one of the reads in :data:`ALLOWED`; ``canonical``
    is the statement's text as ``formatQuery`` wrote it (the SHOW forms are read there)."""
    checks = {
        "SelectWithUnionQuery": _check_select,
        "Explain": _check_explain,
        "DescribeQuery": _check_describe,
    }
    if root.kind in checks:
        checks[root.kind](root, database)
    elif root.kind == "ShowTables":
        _check_show_tables(root, database, canonical)
    elif root.kind in ("ShowCreateTableQuery", "ShowCreateViewQuery"):
        _check_show_create(root, database, canonical)
    else:
        raise QueryError(f"query refused: only {ALLOWED} are allowed here")


def _check_select(root: Node, database: str) -> None:
    _no_clauses(root.children[1:])
    _check(root, database)


def _check_explain(root: Node, database: str) -> None:
    """EXPLAIN [AST|SYNTAX|QUERY TREE|PLAN|PIPELINE|ESTIMATE] of a SELECT allowed here. A
    leading ``Set`` holds the EXPLAIN's own options (``header = 1``): ClickHouse accepts
    only its EXPLAIN options there; a query's SETTINGS sit inside the SELECT (refused)."""
    children = (
        root.children[1:] if root.children[:1] and root.children[0].kind == "Set" else root.children
    )
    if (
        root.name not in _EXPLAIN_KINDS
        or not children
        or children[0].kind != "SelectWithUnionQuery"
    ):
        raise QueryError(f"query refused: only EXPLAIN of a SELECT is allowed here ({root.name})")
    _no_clauses(children[1:])
    _check_select(children[0], database)


def _check_describe(root: Node, database: str) -> None:
    """DESCRIBE of a table allowed here, or of a subquery allowed here."""
    if not root.children:
        raise QueryError("query refused: DESCRIBE names no table")
    _no_clauses(root.children[1:])
    _check(root.children[0], database)


def _check_show_tables(root: Node, database: str, canonical: str) -> None:
    match = _SHOW_TABLES.match(canonical)
    if match is None:  # SHOW DATABASES, SHOW DICTIONARIES, WHERE, INTO OUTFILE ...
        raise QueryError(
            f"query refused: only {ALLOWED} are allowed here "
            "(SHOW TABLES takes [FROM db] [[NOT] LIKE|ILIKE 'pattern'] [LIMIT n])"
        )
    if match["db"] is not None and match["db"].strip("`") != database:
        raise QueryError(
            f"query refused: {match['db']} is outside the store's database {database} "
            "(SHOW TABLES lists megawatch's own tables only)"
        )
    _no_clauses(root.children[1 if match["db"] else 0 :])


def _check_show_create(root: Node, database: str, canonical: str) -> None:
    match = _SHOW_CREATE.match(canonical)
    if match is None:
        raise QueryError(f"query refused: only {ALLOWED} are allowed here")
    db = f"{match['db']}." if match["db"] else ""
    _check_table(f"{db}{match['table']}", database)
    names = 2 if db else 1
    _no_clauses(root.children[names:])


def _no_clauses(clauses: list[Node]) -> None:
    if clauses and clauses[-1].kind == "Identifier" and clauses[-1].name == "Native":
        clauses = clauses[:-1]  # the FORMAT Native clickhouse-connect appends to every query
    if clauses:
        raise QueryError("query refused: INTO OUTFILE, FORMAT and SETTINGS are not allowed")


def _check(node: Node, database: str) -> None:
    if node.kind == "Set":
        raise QueryError("query refused: SETTINGS are not allowed (limits are fixed)")
    if node.kind == "TableExpression":
        for child in node.children:
            if child.kind == "Function":
                raise QueryError(f"query refused: table function {child.name}() is not allowed")
            if child.kind == "TableIdentifier":
                _check_table(child.name, database)
    if node.kind == "Function":
        _check_function(node, database)
    for child in node.children:
        _check(child, database)


def _check_function(node: Node, database: str) -> None:
    name = node.name.lower()
    if name in BLOCKED_FUNCTIONS or name.startswith(_BLOCKED_PREFIXES):
        raise QueryError(f"query refused: function {node.name}() is not allowed")
    if name in _IN_FUNCTIONS and node.children:
        arguments = node.children[0].children
        if len(arguments) == 2 and arguments[1].kind == "Identifier":
            _check_table(arguments[1].name, database)  # `x IN table`


def _check_table(name: str, database: str) -> None:
    """A bare name is a table of the current database (or a WITH alias); a qualified
    one must name the current database or be one of :data:`SYSTEM_TABLES` (exactly:
    ClickHouse's names are case-sensitive)."""
    # EXPLAIN AST prints "db.table (alias a)": the alias, printed raw, may hold anything
    # (dots too), the table's own name comes first
    reference = name.split(" (alias ", 1)[0]
    qualifier, dot, table = reference.rpartition(".")
    qualifier, table = qualifier.strip("`"), table.strip("`")
    if dot and qualifier != database and f"{qualifier}.{table}" not in SYSTEM_TABLES:
        raise QueryError(
            f"query refused: {reference} is outside the store's database {database} "
            f"(only megawatch's own tables and {', '.join(SYSTEM_TABLES)} can be read here)"
        )


def _reason(message: str) -> str:
    """The part of a store error worth showing (the syntax error, usually)."""
    _, _, tail = message.partition("DB::Exception: ")
    tail = " ".join((tail or message).split())
    tail = tail.split(" : In scope ")[0]  # the rest names the formatQuery() wrapper
    return tail[:300]
