"""Settings errors through the real CLI: one line, exit status 2, no secret (issue 10 item 5)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

CASES = [
    pytest.param(
        {"MEGAWATCH_WEBHOOK_URLS": "ftp://admin:hunter2@hooks.example/x?token=SECRETTOKEN"},
        ["alerts", "receivers"],
        ("hunter2", "SECRETTOKEN"),
        "MEGAWATCH_WEBHOOK_URLS",
        id="webhook-ftp-with-password-and-token",
    ),
    pytest.param(
        {"MEGAWATCH_CLICKHOUSE_DSN": "ftp://mw:hunter2@db.example/mw"},
        ["db", "status"],
        ("hunter2",),
        "MEGAWATCH_CLICKHOUSE_DSN",
        id="dsn-wrong-scheme",
    ),
    pytest.param(
        {"MEGAWATCH_CLICKHOUSE_DSN": "http://mw:hunter2@[::1/mw?token=SECRETTOKEN"},
        ["db", "status"],
        ("hunter2", "SECRETTOKEN"),
        "MEGAWATCH_CLICKHOUSE_DSN",
        id="dsn-broken-ipv6",
    ),
    pytest.param(
        {"MEGAWATCH_CLICKHOUSE_DSN": "http://mw:hunter2@db.example:99999/mw"},
        ["db", "status"],
        ("hunter2",),
        "MEGAWATCH_CLICKHOUSE_DSN",
        id="dsn-port-out-of-range",
    ),
    pytest.param(
        {"MEGAWATCH_SLACK_WEBHOOK_URL": "not a url SLACKSECRET"},
        ["alerts", "receivers"],
        ("SLACKSECRET",),
        "MEGAWATCH_SLACK_WEBHOOK_URL",
        id="slack-not-a-url",
    ),
    pytest.param(
        {"MEGAWATCH_ALERTMANAGER_URL": "http://am:hunter2@[::1/x?token=SECRETTOKEN"},
        ["alerts", "receivers"],
        ("hunter2", "SECRETTOKEN"),
        "MEGAWATCH_ALERTMANAGER_URL",
        id="alertmanager-broken-ipv6",
    ),
]


@pytest.mark.parametrize(("env", "args", "secrets", "variable"), CASES)
def test_settings_error_is_one_line_without_secrets(
    env: dict[str, str], args: list[str], secrets: tuple[str, ...], variable: str, tmp_path: Path
) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEGAWATCH_")}
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        env={**clean, "MEGAWATCH_DATA_DIR": str(tmp_path / "data"), **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert result.stderr.startswith(f"megawatch: invalid setting: {variable}: ")
    for secret in secrets:
        assert secret not in output
