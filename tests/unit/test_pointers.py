"""Every pointer the code and the docs give leads somewhere.

Docstrings and comments of pipeline/** name modules and objects as Sphinx roles
(``:mod:``, ``:func:``, ``:class:``, ``:meth:``, ``:data:``, ``:attr:``, ``:exc:``), as
dotted ``pipeline.x.y`` names and as repository paths; docs/*.md, README.md,
pyproject.toml, the Makefile and docker-compose.yml name paths and dotted names. Each
must exist: roles and dotted names are resolved on the source (AST, no import: a
module is not run to be checked), relative ones (``:mod:`.x```) against the package,
unqualified ones against the module and its classes; paths against the repository.
"""

from __future__ import annotations

import ast
import importlib
import io
import re
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROLE = re.compile(r":(?:mod|func|class|meth|data|attr|exc|obj):`~?([^`<>]+?)(?:\(\))?`")
DOTTED = re.compile(r"(?<![\w./:-])pipeline(?:\.[A-Za-z_]\w*)+")
PATH = re.compile(
    r"(?<![\w./-])((?:pipeline|sql|benchmarks|deploy|tests|examples|schemas|docs)/[\w./*<>{}-]*)"
)
#: Files outside pipeline/ whose paths must exist (besides docs/*.md).
REPO_FILES = ("README.md", "pyproject.toml", "Makefile", "docker-compose.yml")
TEMPLATE = re.compile(r"[*<{]|NNN")  # sql/migrations/NNN_name.sql, sql/queries/<name>.sql
MIGRATION = re.compile(r"sql/migrations/\d{3}")  # a migration by its number
OUTPUTS = ("benchmarks/results/",)  # what the benchmarks write (docs/benchmarks.md)


@dataclass
class Module:
    """What one module defines: top-level names, and the members of each class."""

    name: str
    is_package: bool
    source: str
    tree: ast.Module = field(init=False)
    names: set[str] = field(default_factory=set)
    imports: dict[str, str] = field(default_factory=dict)  # local name -> dotted origin
    members: dict[str, set[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tree = ast.parse(self.source)
        for node in self.tree.body:
            self._top(node)

    def _top(self, node: ast.stmt) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            self.names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            self.names.add(node.name)
            self.members[node.name] = _members(node)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            self.names |= _targets(node)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(self, node.module or "", node.level)
            for alias in node.names:
                self.names.add(alias.asname or alias.name)
                self.imports[alias.asname or alias.name] = f"{base}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                self.names.add(alias.asname or alias.name.partition(".")[0])
        elif isinstance(node, ast.If | ast.Try):  # TYPE_CHECKING blocks, optional imports
            for child in [*node.body, *getattr(node, "orelse", [])]:
                self._top(child)


def _targets(node: ast.Assign | ast.AnnAssign | ast.AugAssign) -> set[str]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def _members(cls: ast.ClassDef) -> set[str]:
    found = set()
    for node in cls.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            found |= _targets(node)
    for node in ast.walk(cls):  # self.x = ... in any method
        target = isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
        if target and isinstance(node.value, ast.Name) and node.value.id == "self":
            found.add(node.attr)
    return found


def _absolute(module: Module, name: str, level: int) -> str:
    if not level:
        return name
    parts = module.name.split(".")
    base = parts if module.is_package else parts[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


@cache
def modules() -> dict[str, Module]:
    found = {}
    for path in sorted((ROOT / "pipeline").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if package else parts)
        found[name] = Module(name, package, path.read_text())
    return found


def _resolve_in(module: Module, rest: list[str], seen: int = 0) -> bool:
    """Whether ``rest`` (a name, or Class.member) is defined in ``module``."""
    if not rest:
        return True
    head = rest[0]
    if head in module.imports and seen < 8:  # follow a re-export to where it is defined
        return resolves(module.imports[head] + "".join(f".{r}" for r in rest[1:]), seen + 1)
    if head not in module.names:
        return False
    if len(rest) == 1:
        return True
    return head in module.members and len(rest) == 2 and rest[1] in module.members[head]


def resolves(target: str, seen: int = 0) -> bool:
    """Whether the dotted ``target`` is a pipeline module, or a name in one; names
    outside pipeline are imported."""
    parts = target.split(".")
    if ROOT.joinpath(*parts).is_dir():  # pipeline._sql.queries: a folder of data
        return True
    for cut in range(len(parts), 0, -1):
        module = modules().get(".".join(parts[:cut]))
        if module is not None:
            return _resolve_in(module, parts[cut:], seen)
    if parts[0] == "pipeline":
        return False
    try:
        obj: object = importlib.import_module(parts[0])
        for i, part in enumerate(parts[1:], start=2):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                obj = importlib.import_module(".".join(parts[:i]))
    except ImportError:
        return False
    return True


def resolves_from(module: Module, target: str) -> bool:
    """A role's target as written in ``module``: relative, unqualified or dotted."""
    if target.startswith("."):
        package = module.name if module.is_package else module.name.rpartition(".")[0]
        return resolves(f"{module.name}{target}") or resolves(f"{package}{target}")
    parts = target.split(".")
    if _resolve_in(module, parts):
        return True
    if len(parts) == 1 and any(parts[0] in m for m in module.members.values()):
        return True  # :meth:`stop` in a class's own docstrings
    return resolves(target)


def paths(text: str) -> list[str]:
    return [found.rstrip(".,;:)") for found in PATH.findall(text)]


def path_exists(text: str) -> bool:
    if text.startswith(OUTPUTS):
        return True
    if MIGRATION.fullmatch(text):
        return any((ROOT / "sql" / "migrations").glob(f"{text[-3:]}_*.sql"))
    pattern = TEMPLATE.search(text)
    if pattern:  # a pattern (NNN_name.sql): its folder must exist and hold files
        folder = ROOT / text[: pattern.start()].rpartition("/")[0]
        return folder.is_dir() and any(folder.iterdir())
    return (ROOT / text).exists()


def docstrings(tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            text = ast.get_docstring(node, clean=False)
            if text:
                yield text


def comments(source: str) -> Iterator[str]:
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.string


def broken_in_text(module: Module, text: str) -> list[str]:
    broken = [f":{t}" for t in ROLE.findall(text) if not resolves_from(module, t.strip())]
    broken += [t for t in DOTTED.findall(text) if not resolves(t)]
    broken += [p for p in paths(text) if not path_exists(p)]
    return broken


def broken_pointers() -> list[str]:
    found = []
    for name, module in modules().items():
        for text in [*docstrings(module.tree), *comments(module.source)]:
            found += [f"{name}: {pointer}" for pointer in broken_in_text(module, text)]
    for doc in [*(ROOT / name for name in REPO_FILES), *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text()
        found += [f"{doc.name}: {p}" for p in paths(text) if not path_exists(p)]
        found += [f"{doc.name}: {t}" for t in DOTTED.findall(text) if not resolves(t)]
    return found


def test_every_pointer_in_docstrings_and_docs_leads_somewhere() -> None:
    assert broken_pointers() == []


PLANTED = '''"""A module of :mod:`.ledger` and :mod:`.gone`; :func:`pipeline.store.named_query`,
:class:`pipeline.store.Nowhere`, :meth:`Positions.watch_pending`, :meth:`Positions.nope`,
pipeline.worker.ledger, pipeline.worker.nothing, pipeline/worker/ledger.py,
pipeline/worker/nothing.py, sql/queries/<name>.sql, sql/nothing/<name>.sql."""

from pipeline.worker.positions import Positions
'''


@pytest.mark.parametrize(
    ("pointer", "broken"),
    [
        (":.ledger", False),
        (":.gone", True),
        (":pipeline.store.named_query", False),  # re-exported by the package
        (":pipeline.store.Nowhere", True),
        (":Positions.watch_pending", False),  # imported class, its method
        (":Positions.nope", True),
        ("pipeline.worker.ledger", False),
        ("pipeline.worker.nothing", True),
        ("pipeline/worker/ledger.py", False),
        ("pipeline/worker/nothing.py", True),
        ("sql/queries/<name>.sql", False),
        ("sql/nothing/<name>.sql", True),
    ],
)
def test_a_planted_bad_pointer_is_caught(pointer: str, broken: bool) -> None:
    module = Module("pipeline.worker.planted", False, PLANTED)
    assert (pointer in broken_in_text(module, next(docstrings(module.tree)))) is broken
