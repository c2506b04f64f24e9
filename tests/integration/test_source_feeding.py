"""docs/feeding.md's `megawatch publish` example, run as written, really alerts, and the
page says what follows it.

The fenced blocks marked ```sh test``` are extracted and run by bash (-e, pipefail) with
a real worker on the embedded broker (the page's `megawatch broker` and `megawatch
worker` terminals); then the cap alert must be on the alerts topic and the rows stored.
Every other alert the example causes (the site goes silent when it ends) must be named
by the page (issue 24 item 6); the worker waits 5 s for them instead of the page's 60.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from worker_harness import WorkerProcess, read_topic, wait_for

from pipeline.broker.process import EmbeddedBroker

pytestmark = pytest.mark.integration

FEEDING = Path(__file__).resolve().parents[2] / "docs" / "feeding.md"
BLOCK = re.compile(r"^```sh test\n(.*?)^```$", re.S | re.M)


def feeding_blocks() -> list[str]:
    return BLOCK.findall(FEEDING.read_text())


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[WorkerProcess]:
    with EmbeddedBroker(tmp_path / "data") as broker:
        proc = WorkerProcess(
            tmp_path / "data", {"MEGAWATCH_CAP_FOR_S": "5", "MEGAWATCH_TELEMETRY_FOR_S": "5"}
        ).start()
        proc.bootstrap = broker.bootstrap  # type: ignore[attr-defined]
        try:
            yield proc
        finally:
            proc.stop()


def test_the_feeding_example_alerts(worker: WorkerProcess, tmp_path: Path) -> None:
    blocks = feeding_blocks()
    assert blocks, "docs/feeding.md has no ```sh test block"
    env = {**worker.env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for block in blocks:
        run = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", block],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert run.returncode == 0, f"{block}\n---\n{run.stdout[-2000:]}{run.stderr[-3000:]}"
    alerts = wait_for(
        lambda: [
            a
            for a in read_topic(worker.bootstrap, "alerts", settle_s=1.0)  # type: ignore[attr-defined]
            if a.get("site") == "atl-2"
            and a.get("rule") == "cap_critical"
            and a.get("status") == "firing"
        ],
        60,
        "the cap_critical alert of atl-2 on the alerts topic",
    )
    assert alerts[0]["value"] > alerts[0]["threshold"]
    rows = worker.sql(
        "SELECT (SELECT count() FROM rack_power WHERE site = 'atl-2') AS racks, "
        "(SELECT count() FROM link_samples WHERE site = 'atl-2') AS links"
    )[0]
    assert rows == {"racks": 60, "links": 1}
    # what follows the example: the page names every alert the example causes
    after = wait_for(
        lambda: (
            {
                (a["rule"], a["severity"])
                for a in read_topic(worker.bootstrap, "alerts", settle_s=1.0)  # type: ignore[attr-defined]
                if a.get("site") == "atl-2" and a.get("status") == "firing"
            }
            >= {("telemetry_missing", "critical"), ("link_telemetry_missing", "warning")}
            or None
        ),
        60,
        "the alerts of the silence after the example",
    )
    assert after
    fired = {
        a["rule"]
        for a in read_topic(worker.bootstrap, "alerts", settle_s=1.0)  # type: ignore[attr-defined]
        if a.get("site") == "atl-2"
    }
    page = FEEDING.read_text()
    follows = page[page.index("## By hand") :].split("\n## ", 1)[0]  # the example's section
    assert {rule for rule in fired if f"`{rule}`" not in follows} == set(), follows
