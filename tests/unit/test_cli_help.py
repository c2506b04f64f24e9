"""Every command and subcommand answers --help (in-process, through the real CLI)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from pipeline.cli import COMMANDS, cli


def command_paths() -> list[list[str]]:
    paths: list[list[str]] = [[]]
    for name in sorted(COMMANDS):
        command = cli.get_command(click.Context(cli), name)
        assert command is not None, name
        paths.append([name])
        if isinstance(command, click.Group):
            paths += [[name, sub] for sub in sorted(command.commands)]
    return paths


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "megawatch")
def test_help(path: list[str]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output
    assert len(result.output.splitlines()) > 3


def test_unknown_command_is_one_clear_line() -> None:
    result = CliRunner().invoke(cli, ["wrok"])
    assert result.exit_code == 2
    assert "No such command 'wrok'" in result.output
