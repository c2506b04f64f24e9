"""A ``megawatch worker`` child process that the demo (and tests) start and stop.

The child gets the parent's settings through its environment, its own web port, and a
log file; :meth:`WorkerProcess.start` returns once the worker has partitions assigned,
and :meth:`stop` never leaves it running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from pipeline.broker.process import free_port
from pipeline.errors import MegawatchError


class WorkerProcess:
    def __init__(self, env: dict[str, str], log_path: Path, cwd: Path | None = None) -> None:
        self.port = int(env.get("MEGAWATCH_WEB_PORT") or free_port())
        self.env = {**env, "MEGAWATCH_WEB_PORT": str(self.port)}
        self.log_path = log_path
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> WorkerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pipeline", "worker", "--quiet"],
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session: a Ctrl-C in the terminal reaches the demo only, which
                # still needs the worker for the summary and then stops it in order.
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise MegawatchError(
                    f"the worker exited with status {self.proc.returncode}: "
                    f"{self.last_error()} (log: {self.log_path})"
                )
            if self.assigned_partitions() > 0:
                return self
            time.sleep(0.3)
        self.stop()
        raise MegawatchError(
            f"the worker was not ready within {timeout:.0f} s (log: {self.log_path})"
        )

    def assigned_partitions(self) -> int:
        try:
            health = httpx.get(f"{self.url}/health", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return 0
        return int(health.get("assigned_partitions", 0))

    def last_error(self) -> str:
        """The last line of the log that looks like an error, for one-line messages."""
        if not self.log_path.exists():
            return "no log"
        lines = self.log_path.read_text(errors="replace").splitlines()
        for line in reversed(lines):
            if line.startswith("megawatch:") or "Error" in line:
                return line.strip()
        return lines[-1].strip() if lines else "no output"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        """Stop the worker (SIGTERM, then SIGKILL after ``timeout``); its exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    # --- what the worker serves -------------------------------------------------------
    def sql(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """A read query on the worker's store (times as ISO-8601 text)."""
        from pipeline.store.reader import read_split, settings_of_child

        body = read_split(settings_of_child(self.env), query, params)
        return [dict(zip(body["columns"], row, strict=True)) for row in body["data"]]

    def state(self) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/api/state", timeout=5)
        result: dict[str, Any] = response.json()
        return result


def child_env(overrides: dict[str, str]) -> dict[str, str]:
    """This process's environment plus ``overrides`` (MEGAWATCH_* settings)."""
    return {**os.environ, **overrides}
