"""Every rule parameter's default is written once: in its declaration in
pipeline/core/rules/. Nowhere else in pipeline/ may the same number stand next to the
parameter's name (``stale_hold_ms: int = 600_000``, ``MIN_COVERAGE = 0.9``,
``Field(15.0, ...)`` for ``stale_after_s``, ``{LinkClass.fabric: (1e-6, 1e-5)}``).

Read from the source with :mod:`ast`: a literal (a number, or arithmetic of numbers:
``7 * 86400``) equal to a parameter's default, or to it in milliseconds for a parameter in
seconds, is a duplicate when an identifier on its line, or on the first line of its
statement, names the parameter: its words (units dropped) end the parameter's words or
the other way round (``hold_ms`` for ``stale_hold_s``, ``fabric`` for
``loss_warn_fabric``). Bounds (``gt=``, ``le=``, ...) are not defaults; arithmetic with a
variable (``for_ms // 5``) or a comparison is not a default. Defaults of 0 are not checked: zero is in
every other line.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.core.rules.registry import Param, registry

PIPELINE = Path(__file__).resolve().parents[2] / "pipeline"
UNIT_WORDS = {"s", "ms", "packets"}
BOUNDS = {"gt", "ge", "lt", "le"}
_OPS = {
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
}


def words(identifier: str) -> tuple[str, ...]:
    return tuple(w for w in re.split(r"[_.]+", identifier.lower()) if w and w not in UNIT_WORDS)


def names_param(identifier: str, param: Param[Any]) -> bool:
    mine, theirs = words(param.name), words(identifier)
    if not mine or not theirs:
        return False
    shorter, longer = sorted((mine, theirs), key=len)
    return longer[len(longer) - len(shorter) :] == shorter


def literal(node: ast.AST) -> float | None:
    """The value of a number, or of arithmetic on numbers only; else None."""
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = literal(node.operand)
        return None if inner is None else -inner
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = literal(node.left), literal(node.right)
        if left is not None and right is not None:
            return float(_OPS[type(node.op)](left, right))
    return None


def identifiers(node: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, identifier) of names, attributes, keywords, arguments and identifier-like
    strings under ``node``."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            yield sub.lineno, sub.id
        elif isinstance(sub, ast.Attribute):
            yield sub.lineno, sub.attr
        elif isinstance(sub, ast.arg | ast.keyword) and sub.arg:
            yield sub.lineno, sub.arg
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str) and _IDENT(sub.value):
            yield sub.lineno, sub.value


_IDENT = re.compile(r"[A-Za-z_][\w.]*").fullmatch


def literals(stmt: ast.stmt) -> Iterator[tuple[ast.AST, float]]:
    """The maximal literals of one statement (not of statements nested in it), without
    bounds and without parameter declarations (``Param("name", default, ...)``: the one
    home of a default)."""
    stack: list[ast.AST] = [stmt]
    while stack:
        node = stack.pop()
        if node is not stmt and isinstance(node, ast.stmt):
            continue  # its own statement
        if isinstance(node, ast.keyword) and node.arg in BOUNDS:
            continue
        if isinstance(node, ast.Call) and _called(node) == "Param":
            continue
        value = literal(node)
        if value is not None:
            yield node, value
        elif not isinstance(node, ast.BinOp | ast.UnaryOp | ast.Compare):
            stack.extend(ast.iter_child_nodes(node))  # numbers in arithmetic: operands


def _called(call: ast.Call) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)


def duplicates(source: str, params: tuple[Param[Any], ...]) -> list[tuple[int, str]]:
    """(line, parameter name) of each default written again in ``source``."""
    found = []
    tree = ast.parse(source)
    for stmt in (n for n in ast.walk(tree) if isinstance(n, ast.stmt)):
        names = list(identifiers(_header(stmt)))
        for node, value in literals(stmt):
            line = getattr(node, "lineno", stmt.lineno)
            near = {name for at, name in names if at in (line, stmt.lineno)}
            for param in params:
                default = float(param.default)
                if default == 0:
                    continue
                values = (default, default * 1000) if param.unit == "s" else (default,)
                if not any(math.isclose(value, v, rel_tol=1e-9) for v in values):
                    continue
                if any(names_param(name, param) for name in near):
                    found.append((line, param.name))
    return found


def _header(stmt: ast.stmt) -> ast.AST:
    """A statement without the statements nested in it (a def: its signature)."""
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
        return stmt.args
    if isinstance(stmt, ast.ClassDef | ast.If | ast.For | ast.While | ast.With | ast.Try):
        return ast.Module([], [])
    return stmt


def test_no_rule_default_is_written_twice_in_pipeline() -> None:
    params = registry().params
    found = [
        f"{path.relative_to(PIPELINE.parent)}:{line}: the default of {name}"
        for path in sorted(PIPELINE.rglob("*.py"))
        for line, name in duplicates(path.read_text(), params)
    ]
    assert found == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("stale_hold_ms: int = 600_000", ["stale_hold_s"]),
        ("hold_ms: int = 600_000  # a silent rack counts this long", ["stale_hold_s"]),
        ("MIN_COVERAGE = 0.9", ["min_coverage"]),
        ("x = Field(15.0, gt=0, le=3600, alias='stale_after_s')", ["stale_after_s"]),
        ("def f(forget_after_ms: int = 24 * 3600 * 1000): pass", ["forget_after_s"]),
        (
            "D = {LinkClass.fabric: (1e-6, 1e-5), LinkClass.wan: (1e-5, 1e-4)}",
            ["loss_crit_fabric", "loss_crit_wan", "loss_warn_fabric", "loss_warn_wan"],
        ),
        ("stale_after_s: float = Field(\n    15.0,\n    gt=0,\n)", ["stale_after_s"]),
        # not duplicates: bounds, arithmetic with a variable, another parameter's name
        ("STALE_HOLD_MAX = Field(1.0, le=600)", []),
        ("timing = Timing(for_ms, for_ms // 5)", []),
        ("horizon_ms: int = 15_000", []),
        ('X = Param("stale_hold_s", 600.0, "doc", "s", gt=0)', []),
    ],
)
def test_the_finder_sees_a_default_written_again(source: str, expected: list[str]) -> None:
    params = registry().params
    found = sorted({name for _, name in duplicates(source, params)})
    assert found == expected
