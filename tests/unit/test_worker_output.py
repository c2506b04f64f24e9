"""`megawatch worker` writes nothing meant for a terminal into a file (issue 24 item 7):
no progress spinner (backspaces, cursor codes) and no "-INT- -INT-" on Ctrl-C when its
output is not a terminal; on a terminal Faust's own behaviour stays."""

from __future__ import annotations

import io
import signal
from typing import Any

import faust
import pytest

from pipeline.cli.worker_cmd import plain_worker


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def worker(stream: io.StringIO) -> Any:
    app = faust.App("output-test", broker="kafka://127.0.0.1:1", web_enabled=False)
    runner = plain_worker(faust.Worker)(app, stdout=stream, stderr=stream, loglevel="info")
    stops: list[int] = []
    runner._schedule_shutdown = stops.append  # observe the stop, do not run it
    runner.stops = stops
    return runner


def test_into_a_file_no_spinner_and_a_plain_sigint_line(caplog: pytest.LogCaptureFixture) -> None:
    out = io.StringIO()
    runner = worker(out)
    assert runner.spinner is None
    with caplog.at_level("INFO", logger="pipeline.cli.worker_cmd"):
        runner._on_sigint()
    assert runner.stops == [signal.SIGINT]
    assert "-INT-" not in out.getvalue() and "\x1b" not in out.getvalue()
    assert "SIGINT: stopping" in caplog.text


def test_on_a_terminal_faust_keeps_its_ways() -> None:
    out = Tty()
    runner = worker(out)
    assert runner.spinner is not None
    runner._on_sigint()
    assert "-INT-" in out.getvalue()
