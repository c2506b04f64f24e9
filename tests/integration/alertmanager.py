"""A real Alertmanager for tests: Debian's ``prometheus-alertmanager``, on a free port.

Started with its own storage dir, clustering off (``--cluster.listen-address=``) and a
minimal config that routes everything to one webhook (our local test receiver, when
given), with short group timings so a test sees Alertmanager's own notifications.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from pipeline.broker.process import free_port

BINARY_NAMES = ("prometheus-alertmanager", "alertmanager")
SKIP_REASON = (
    "Alertmanager binary not found (install Debian's prometheus-alertmanager: "
    "apt-get install -y prometheus-alertmanager; .ci/run does)"
)

CONFIG = """\
route:
  receiver: {receiver}
  group_by: [alertname, site]
  group_wait: 100ms
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: blackhole
  - name: webhook
    webhook_configs:
      - url: "{webhook_url}"
        send_resolved: true
"""


def binary() -> str | None:
    for name in BINARY_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


class Alertmanager:
    def __init__(self, process: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.process = process
        self.url = url
        self.log = log

    def alerts(self, **params: Any) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts`` (Alertmanager lists the alerts that are not resolved)."""
        response = httpx.get(f"{self.url}/api/v2/alerts", params=params, timeout=5)
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()
        return found


@contextlib.contextmanager
def running_alertmanager(workdir: Path, webhook_url: str | None = None) -> Iterator[Alertmanager]:
    exe = binary()
    if exe is None:
        raise FileNotFoundError(SKIP_REASON)
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "alertmanager.yml"
    config.write_text(
        CONFIG.format(
            receiver="webhook" if webhook_url else "blackhole",
            webhook_url=webhook_url or "http://127.0.0.1:9/unused",
        )
    )
    port = free_port()
    log = workdir / "alertmanager.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                exe,
                f"--config.file={config}",
                f"--storage.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    manager = Alertmanager(process, f"http://127.0.0.1:{port}", log)
    try:
        _wait_ready(manager)
        yield manager
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _wait_ready(manager: Alertmanager, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if manager.process.poll() is not None:
            raise RuntimeError(f"alertmanager exited: {manager.log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{manager.url}/-/ready", timeout=1).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"alertmanager not ready in {timeout}s: {manager.log.read_text()[-2000:]}")
