"""Ctrl-C in a terminal signals the whole foreground process group: the demo must still
print its summary (the worker it started must not die with it) and exit 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.test_demo import processes_of

pytestmark = pytest.mark.integration


def test_sigint_to_the_process_group_prints_the_summary_and_exits_0(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEGAWATCH_")}
    env.update({"MEGAWATCH_DATA_DIR": str(tmp_path / "data"), "MEGAWATCH_CAP_FOR_S": "1"})
    log = (tmp_path / "out.txt").open("w+")
    demo = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "demo", "--sites", "3", "--breach-after", "3"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a terminal's foreground group, led by the demo
    )
    try:
        deadline = time.monotonic() + 180
        while "simulated fleet publishing" not in (tmp_path / "out.txt").read_text():
            assert demo.poll() is None, (tmp_path / "out.txt").read_text()[-3000:]
            assert time.monotonic() < deadline, "the demo did not start within 180 s"
            time.sleep(0.5)
        time.sleep(8)  # the live part: readings flow, an alert may fire
        os.killpg(demo.pid, signal.SIGINT)
        sent = time.monotonic()
        status = demo.wait(timeout=60)
        took = time.monotonic() - sent
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
    out = (tmp_path / "out.txt").read_text()
    assert status == 0, out[-3000:]
    for line in ("Ctrl-C", "summary", "readings stored", "demo finished"):
        assert line in out, f"{line!r} missing:\n{out[-3000:]}"
    assert "Traceback" not in out, out[-3000:]
    assert processes_of(tmp_path / "data") == []
    # The promise is 10 s (5.4 s measured here); before the fix the worker, hit by the
    # same SIGINT, took 34 s in its shutdown. A loose bound keeps a loaded CI honest.
    assert took < 20, f"exit {took:.1f} s after SIGINT"
