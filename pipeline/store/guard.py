"""Queries users type (``megawatch sql``): one SELECT on megawatch's own tables, bounded.

ClickHouse's ``readonly`` is not a sandbox (MEASURED.md): ``file()``, ``url()``,
``executable()``, ``INTO OUTFILE`` and ``INSERT INTO FUNCTION`` pass it. So a user's
statement is checked on the parsed tree, not with regexes:

1. ``formatQuery`` parses it: one statement, or a syntax error (chDB would otherwise run
   ``SELECT 1; DROP TABLE t`` as two); the canonical text is what runs.
2. ``EXPLAIN AST`` of that text must be a ``SELECT`` (``SelectWithUnionQuery``) with no
   ``INTO OUTFILE``, ``FORMAT`` or ``SETTINGS`` (the bounds below must hold), whose every
   table is a table (not a table function such as ``file``, ``url``, ``remote``,
   ``numbers``) in the store's own database, and which calls no function that reaches
   files, processes, dictionaries or stalls the engine (``sleepEachRow``).
3. It runs with ``readonly=2`` and bounded time, result rows/bytes and memory
   (:func:`read_limits`), so it can neither write nor hold the store.
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
    }


def checked_select(store: Store, sql: str, params: dict[str, Any] | None = None) -> str:
    """The canonical text of ``sql`` if it is a SELECT allowed here, else QueryError."""
    from pipeline.errors import StoreError

    try:
        canonical = str(store.query_rows("SELECT formatQuery({q:String})", {"q": sql})[0][0])
        lines = [str(row[0]) for row in store.query_rows(f"EXPLAIN AST {canonical}", params)]
    except StoreError as exc:
        raise QueryError(f"query refused: {_reason(str(exc))}") from exc
    database = str(store.query_rows("SELECT currentDatabase()")[0][0])
    check_tree(parse_ast(lines), database)
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


def check_tree(root: Node, database: str) -> None:
    if root.kind != "SelectWithUnionQuery":
        raise QueryError("query refused: only SELECT is allowed here")
    clauses = root.children[1:]
    if clauses and clauses[-1].kind == "Identifier" and clauses[-1].name == "Native":
        clauses = clauses[:-1]  # the FORMAT Native clickhouse-connect appends to every query
    if clauses:
        raise QueryError("query refused: INTO OUTFILE, FORMAT and SETTINGS are not allowed")
    _check(root, database)


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
    one must name the current database."""
    qualifier, dot, _ = name.rpartition(".")
    if dot and qualifier.strip("`") != database:
        raise QueryError(
            f"query refused: {name} is outside the store's database {database} "
            "(only megawatch's own tables can be read here)"
        )


def _reason(message: str) -> str:
    """The part of a store error worth showing (the syntax error, usually)."""
    _, _, tail = message.partition("DB::Exception: ")
    tail = " ".join((tail or message).split())
    tail = tail.split(" : In scope ")[0]  # the rest names the formatQuery() wrapper
    return tail[:300]
