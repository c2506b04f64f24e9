"""Every package says what it offers: ``__all__`` in each ``__init__.py`` of pipeline/.

A package that defines or re-exports names lists them; a package whose ``__init__`` is
only a docstring lists its public submodules, all of them (so a new module is added to
the package's map as well). Read from the source, nothing imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PIPELINE = Path(__file__).resolve().parents[2] / "pipeline"
PACKAGES = sorted(p.parent for p in PIPELINE.rglob("__init__.py"))


def declared_all(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                assert isinstance(node.value, ast.List | ast.Tuple), "__all__ is a literal list"
                return [ast.literal_eval(e) for e in node.value.elts]
    return None


def defined_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).partition(".")[0] for a in node.names}
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names - {"__all__"}


def submodules(package: Path) -> set[str]:
    found = {p.stem for p in package.glob("*.py") if not p.stem.startswith("_")}
    found |= {p.parent.name for p in package.glob("*/__init__.py")}
    return found


def docstring_only(tree: ast.Module) -> bool:
    rest = tree.body[1:] if ast.get_docstring(tree) is not None else tree.body
    return all(declared_all(ast.Module([node], [])) is not None for node in rest)


@pytest.mark.parametrize(
    "package", PACKAGES, ids=lambda p: p.relative_to(PIPELINE.parent).as_posix()
)
def test_each_package_declares_its_public_names(package: Path) -> None:
    tree = ast.parse((package / "__init__.py").read_text())
    public = declared_all(tree)
    assert public is not None, f"{package.name}/__init__.py declares no __all__"
    assert len(public) == len(set(public)), "a name twice in __all__"
    if docstring_only(tree):
        assert sorted(public) == sorted(submodules(package))
    else:
        missing = set(public) - defined_names(tree) - submodules(package)
        assert not missing, f"__all__ names what the package does not have: {sorted(missing)}"
