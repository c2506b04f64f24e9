"""`megawatch demo` end to end: a short run with fast rules, as a user would start it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def processes_of(data_dir: Path) -> list[str]:
    """Processes still running with this data dir in their environment (the demo's
    worker and broker inherit it), as 'pid cmdline'."""
    needle = f"MEGAWATCH_DATA_DIR={data_dir}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if needle in (proc / "environ").read_bytes().split(b"\0"):
                found.append(f"{proc.name} {(proc / 'cmdline').read_bytes()[:120]!r}")
        except OSError:
            continue  # gone, or not ours to read
    return found


def megawatch(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_demo_runs_alerts_stores_and_leaves_nothing_behind(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEGAWATCH_")}
    env.update(
        {
            "MEGAWATCH_DATA_DIR": str(tmp_path / "data"),
            "MEGAWATCH_STALE_AFTER_S": "3",
            "MEGAWATCH_CAP_FOR_S": "1",
            "MEGAWATCH_NOTIFY_GROUP_WAIT_S": "0.2",
        }
    )
    run = megawatch(
        ["demo", "--duration", "30", "--sites", "3", "--breach-after", "3", "--no-live"],
        env,
        tmp_path,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    for step in (
        "embedded broker up",
        "migrated",
        "worker ready",
        "webhook receiver",
        "summary",
        "Peak draw against the cap",
        "demo finished",
    ):
        assert step in out, f"{step!r} missing from:\n{out[-3000:]}"
    assert "signatures rejected: 0" in out
    assert processes_of(tmp_path / "data") == []
    # a healthy run logs no ERROR, and no terminal codes into files (issue 24 item 7)
    logs = {path.name: path.read_bytes() for path in (tmp_path / "data").glob("*.log")}
    assert {"broker.log", "demo.log", "demo-worker.log"} <= set(logs)
    for name, text in logs.items():
        assert not re.search(rb"\bERROR\b", text), (name, text[-2000:])
        assert not re.search(rb"\x1b\[|\x08|-INT-", text), (name, text[-2000:])

    # The store is free again: the CLI reads what the demo left there.
    query = (
        "SELECT (SELECT count() FROM alerts WHERE rule = 'cap_critical' "
        "AND status = 'firing') AS cap, (SELECT count() FROM alert_deliveries "
        "WHERE outcome = 'delivered' AND rule = 'cap_critical') AS delivered, "
        "(SELECT count() FROM rack_power) AS racks, "
        "(SELECT count() FROM dead_letters) AS dead"
    )
    result = megawatch(["sql", query, "--format", "json"], env, tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    [row] = json.loads(result.stdout)
    assert row["cap"] >= 1 and row["delivered"] >= 1
    assert row["racks"] > 1000
    assert row["dead"] == 2  # the demo's misbehaving producer sends two bad messages
