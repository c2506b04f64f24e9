"""The README and docs/ are the front door: every setting is documented, only real
settings and commands are named, links lead somewhere, and the README stays short."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.cli import COMMANDS
from pipeline.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
TEXT = {page: page.read_text() for page in PAGES}
ALL_TEXT = "\n".join(TEXT.values())
CONFIGURATION = ROOT / "docs" / "configuration.md"

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


def _prose(text: str) -> str:
    """The text without fenced code blocks (their `#` lines are not headings)."""
    return FENCE.sub("", text)


def _anchors(text: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    seen: dict[str, int] = {}
    anchors = set()
    for heading in HEADING.findall(_prose(text)):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _resolves(page: Path, target: str) -> bool:
    """Whether a relative link of ``page`` names a file, and a heading when it has an anchor."""
    path, _, anchor = target.partition("#")
    dest = (page.parent / path).resolve() if path else page
    if not dest.exists():
        return False
    return not anchor or dest.suffix != ".md" or anchor in _anchors(dest.read_text())


def test_docs_exist() -> None:
    names = {page.name for page in DOCS}
    assert {
        "contract.md",
        "configuration.md",
        "alerts.md",
        "operations.md",
        "feeding.md",
        "benchmarks.md",
        "development.md",
    } <= names


def test_every_setting_is_documented_in_configuration() -> None:
    text = TEXT[CONFIGURATION]
    missing = [
        f"{ENV_PREFIX}{name.upper()}"
        for name in Settings.model_fields
        if f"| `{ENV_PREFIX}{name.upper()}` |" not in text
    ]
    assert missing == []


def test_documented_variables_exist() -> None:
    known = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    for page, text in TEXT.items():
        mentioned = set(re.findall(r"MEGAWATCH_[A-Z0-9_]+", text))
        assert mentioned - known == set(), _name(page)


def test_documented_commands_exist() -> None:
    command = r"(?:\$ |`)(?:\.venv/bin/)?megawatch ([a-z]+)"
    for page, text in TEXT.items():
        assert set(re.findall(command, text)) - set(COMMANDS) == set(), _name(page)
    assert {"demo", "worker", "sql"} <= set(re.findall(command, ALL_TEXT))


def test_readme_is_short() -> None:
    lines = len(TEXT[README].splitlines())
    assert lines <= 250, f"README.md has {lines} lines: move detail into docs/"


def test_readme_links_every_doc() -> None:
    linked = set(LINK.findall(_prose(TEXT[README])))
    assert {f"docs/{page.name}" for page in DOCS} <= linked


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_relative_links_point_to_existing_files(page: Path) -> None:
    broken = []
    for target in LINK.findall(_prose(TEXT[page])):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, ...
            continue
        if not _resolves(page, target):
            broken.append(target)
    assert broken == []


def test_test_command_is_what_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in TEXT[README] and "make test" in ci


def test_scaling_doc_names_only_real_settings_and_commands() -> None:
    """docs/scaling.md: every MEGAWATCH_* it uses is a setting; every `megawatch <cmd>`
    and `db` subcommand exists."""
    from pipeline.cli import COMMANDS
    from pipeline.cli.db_cmd import db
    from pipeline.settings import ENV_PREFIX, Settings

    text = (Path(__file__).resolve().parents[2] / "docs" / "scaling.md").read_text()
    known = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    used = set(re.findall(r"MEGAWATCH_[A-Z_]+", text))
    assert used and used - known == set()
    for command, sub in re.findall(r"`megawatch\s+(\w+)(?:\s+(\w+))?", text):
        assert command in COMMANDS, command
        if command == "db":
            assert sub in db.commands, sub
