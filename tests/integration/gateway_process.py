"""A real ``megawatch gateway`` child process for tests: start, SIGKILL, restart."""

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


class GatewayProcess:
    def __init__(
        self, env: dict[str, str], workdir: Path, args: tuple[str, ...] = (), port: int = 0
    ) -> None:
        self.port = port or free_port()
        self.env = {k: v for k, v in env.items() if k != "MEGAWATCH_WEB_PORT"}
        self.workdir = workdir
        self.args = args
        self.log_path = workdir / "gateway.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60, **client: Any) -> GatewayProcess:
        """Start it and wait for /health (``client``: httpx options, e.g. TLS files)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pipeline", "gateway", "--port", str(self.port)]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [*command, *self.args],
                env=self.env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the gateway exited: {self.tail()}")
            try:
                with httpx.Client(timeout=1, **client) as http:
                    if http.get(f"{self.url}/health").status_code == 200:
                        return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"the gateway was not ready in {timeout} s: {self.tail()}")

    def kill(self) -> None:
        """SIGKILL: no chance to flush or answer anything."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = httpx.get(f"{self.url}/api/status", timeout=5).json()
        return result

    def tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])
