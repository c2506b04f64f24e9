"""The shipped sample, replayed by `megawatch agent`, is stored exactly by a real worker."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from worker_harness import WorkerProcess, wait_for

from pipeline.broker.process import EmbeddedBroker

pytestmark = pytest.mark.integration
SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "replay-sample.jsonl"


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[WorkerProcess]:
    with EmbeddedBroker(tmp_path / "data"):
        proc = WorkerProcess(tmp_path / "data").start()
        try:
            yield proc
        finally:
            proc.stop()


def test_replayed_sample_is_stored_exactly(worker: WorkerProcess) -> None:
    agent = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "agent",
            "--source",
            "replay",
            str(SAMPLE),
            "--speed",
            "max",
        ],
        env=worker.env,
        cwd=worker.data_dir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert agent.returncode == 0, agent.stderr[-2000:]
    counts_sql = (
        "SELECT (SELECT count() FROM rack_power) AS rack, "
        "(SELECT count() FROM gpu_samples) AS gpu, "
        "(SELECT count() FROM link_samples) AS link, "
        "(SELECT count() FROM dead_letters) AS dead"
    )
    # The counts in examples/README.md: 24 rack power, 192 GPU, 36 link, 2 invalid.
    expected = {"rack": 24, "gpu": 192, "link": 36, "dead": 2}
    row = wait_for(
        lambda: (r := worker.sql(counts_sql)[0]) == expected and r,
        30,
        f"the sample's readings stored: {expected}",
    )
    assert row == expected
    reasons = worker.sql("SELECT reason FROM dead_letters")
    fields = sorted(r["reason"].split(":")[0].split(".")[-1] for r in reasons)
    assert fields == ["power_w", "util_pct"]  # the two bad readings, named by field
