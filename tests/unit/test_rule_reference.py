"""The docs' rule tables are the registry's: docs/configuration.md and docs/alerts.md hold
them between generated markers, and differ from the rendering in nothing.

``UPDATE_RULE_DOCS=1 .venv/bin/python -m pytest tests/unit/test_rule_reference.py``
rewrites the generated blocks (the rest of each page is left as written).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.core.rules.reference import blocks, number, with_tables
from pipeline.core.rules.registry import registry
from pipeline.settings import ENV_PREFIX

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = {"configuration.md": {"rule-parameters", "spec-overrides"}, "alerts.md": {"rules"}}


@pytest.mark.parametrize("page", sorted(PAGES))
def test_generated_tables_match_the_registry(page: str) -> None:
    path = DOCS / page
    text = path.read_text()
    rendered = blocks(ENV_PREFIX)
    for name in PAGES[page]:
        assert (
            f"<!-- BEGIN GENERATED: {name} " in text and f"<!-- END GENERATED: {name} -->" in text
        )
    expected = with_tables(text, rendered.get)
    if os.environ.get("UPDATE_RULE_DOCS") == "1" and expected != text:
        path.write_text(expected)
        text = expected
    assert text == expected, (
        f"docs/{page}: the rule tables differ from pipeline/core/rules; run "
        "UPDATE_RULE_DOCS=1 .venv/bin/python -m pytest tests/unit/test_rule_reference.py"
    )


def test_every_parameter_appears_once_with_its_default() -> None:
    text = (DOCS / "configuration.md").read_text()
    for param in registry().params:
        row = f"| `{ENV_PREFIX}{param.name.upper()}` | {number(param.default)} |"
        assert text.count(row) == 1, row


def test_a_stale_table_is_replaced_and_the_prose_kept() -> None:
    page = (
        "Intro by hand.\n"
        "<!-- BEGIN GENERATED: rules (x) -->\nan old table\n<!-- END GENERATED: rules -->\n"
        "Outro by hand.\n"
    )
    out = with_tables(page, {"rules": "| new |"}.get)
    assert out == (
        "Intro by hand.\n"
        "<!-- BEGIN GENERATED: rules (x) -->\n| new |\n<!-- END GENERATED: rules -->\n"
        "Outro by hand.\n"
    )
    assert with_tables(page, {}.get) == page  # an unknown block is left alone


@pytest.mark.parametrize(
    ("value", "text"), [(15.0, "15"), (0.02, "0.02"), (1e-6, "1e-6"), (2.5e-4, "2.5e-4"), (0, "0")]
)
def test_numbers_read_as_people_write_them(value: float, text: str) -> None:
    assert number(value) == text
