"""The README is the front door: it documents every setting and only real commands."""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.cli import COMMANDS
from pipeline.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    missing = [f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields
               if f"`{ENV_PREFIX}{name.upper()}`" not in README]
    assert missing == []


def test_documented_variables_exist() -> None:
    known = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    mentioned = set(re.findall(r"MEGAWATCH_[A-Z0-9_]+", README))
    assert mentioned - known == set()


def test_documented_commands_exist() -> None:
    used = set(re.findall(r"(?:\$ |`)(?:\.venv/bin/)?megawatch ([a-z]+)", README))
    assert {"demo", "worker", "sql"} <= used
    assert used - set(COMMANDS) == set()


def test_test_command_is_what_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in README and "make test" in ci
