"""Failures that used to be a traceback or a hang, now one line (issue 10 item 10)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def megawatch(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEGAWATCH_")}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        env={**clean, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,  # /dev/zero used to be read forever: this would expire
    )


def test_sites_apply_dev_zero_is_refused_not_read_forever(tmp_path: Path) -> None:
    result = megawatch(tmp_path, "sites", "apply", "/dev/zero")
    assert result.returncode == 2
    assert result.stderr == "megawatch: /dev/zero is larger than 8 MiB: not a site spec file\n"


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory nobody can write to: permissions for a normal user; for root (who
    ignores permissions) a read-only bind mount, where the machine allows one."""
    path = tmp_path / "ro"
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        yield path
        path.chmod(0o755)
        return
    mounted = subprocess.run(
        ["mount", "--bind", "-o", "ro", str(path), str(path)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip("running as root without permission to mount a read-only directory")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=False)


@pytest.mark.parametrize("command", [["worker"], ["db", "status"], ["sql", "SELECT 1"]])
def test_read_only_data_dir_is_one_line(
    read_only_dir: Path, tmp_path: Path, command: list[str]
) -> None:
    result = megawatch(tmp_path, *command, MEGAWATCH_DATA_DIR=str(read_only_dir))
    assert result.returncode in (1, 2), result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert str(read_only_dir) in result.stderr
    if command[0] == "worker":
        assert "Read-only file system" in result.stderr or "not writable" in result.stderr
    else:  # a read creates no store: there is none in an empty data dir (issue 24)
        assert "there is no store yet" in result.stderr
