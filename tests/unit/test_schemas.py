"""The checked-in JSON Schemas match the models, and every example validates against both."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from pipeline.cli.schemas_cmd import render_schemas
from pipeline.events import KINDS

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def test_checked_in_schemas_match_the_models() -> None:
    rendered = render_schemas()
    assert sorted(rendered) == sorted(p.name for p in SCHEMAS.glob("*.json"))
    for name, text in rendered.items():
        assert (SCHEMAS / name).read_text() == text, f"{name} drifted: run `megawatch schemas`"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_example_validates_against_schema_and_model(kind: str) -> None:
    example = json.loads((SCHEMAS / "examples" / f"{kind}.json").read_text())
    schema = json.loads((SCHEMAS / f"{kind}.json").read_text())
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(
        example
    )
    KINDS[kind].model_validate(example)


@pytest.mark.parametrize("kind", ["rack_power", "gpu", "link"])
def test_schema_rejects_what_the_model_rejects(kind: str) -> None:
    example = json.loads((SCHEMAS / "examples" / f"{kind}.json").read_text())
    schema = json.loads((SCHEMAS / f"{kind}.json").read_text())
    bad = {**example, "site": "no spaces allowed"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    with pytest.raises(ValueError):
        KINDS[kind].model_validate(bad)
