"""Debian's real Prometheus and node_exporter for tests, on free ports.

:func:`running_prometheus` writes a config (given as a dict), starts ``prometheus``
with its own TSDB directory and waits until ``/-/ready``; :class:`Prometheus` reads its
raw samples back through the HTTP API (a range selector in an instant query returns
the stored samples with their own timestamps). :func:`running_node_exporter` starts
``prometheus-node-exporter`` with only the netdev collector (fast scrapes).
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
import yaml

from pipeline.broker.process import free_port

PROMETHEUS = ("prometheus",)
NODE_EXPORTER = ("prometheus-node-exporter", "node_exporter")
SKIP_REASON = (
    "Debian's prometheus / prometheus-node-exporter not installed "
    "(tests/install-deps.sh installs them)"
)


def binary(names: tuple[str, ...]) -> str | None:
    return next((found for name in names if (found := shutil.which(name))), None)


class Prometheus:
    def __init__(self, process: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.process, self.url, self.log = process, url, log

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = at
        response = httpx.get(f"{self.url}/api/v1/query", params=params, timeout=10)
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()["data"]["result"]
        return result

    def samples(self, name: str, at: float, window_s: int = 600) -> dict[tuple[Any, ...], Any]:
        """{(labels..., ts_ms): value} of every stored sample of ``name`` up to ``at``."""
        out: dict[tuple[Any, ...], Any] = {}
        for series in self.query(f"{name}[{window_s}s]", at):
            labels = tuple(sorted(series["metric"].items()))
            for stamp, value in series["values"]:
                out[(labels, round(float(stamp) * 1000))] = float(value)
        return out

    def own_metric(self, name: str) -> float:
        """The sum of one of Prometheus' own metrics, from its /metrics page."""
        from prometheus_client.parser import text_string_to_metric_families

        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name
        )

    def alerts(self) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/v1/alerts", timeout=5)
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()["data"]["alerts"]
        return found


@contextlib.contextmanager
def running_prometheus(workdir: Path, config: dict[str, Any]) -> Iterator[Prometheus]:
    exe = binary(PROMETHEUS)
    if exe is None:
        raise FileNotFoundError(SKIP_REASON)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    log = workdir / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                exe,
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    prometheus = Prometheus(process, f"http://127.0.0.1:{port}", log)
    try:
        _wait_ready(prometheus.url, process, log)
        yield prometheus
    finally:
        _stop(process)


@contextlib.contextmanager
def running_node_exporter(workdir: Path) -> Iterator[str]:
    """The address (host:port) of a node_exporter serving this machine's netdev counters."""
    exe = binary(NODE_EXPORTER)
    if exe is None:
        raise FileNotFoundError(SKIP_REASON)
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = workdir / "node_exporter.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                exe,
                f"--web.listen-address=127.0.0.1:{port}",
                "--collector.disable-defaults",
                "--collector.netdev",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_ready(f"http://127.0.0.1:{port}", process, log, path="/metrics")
        yield f"127.0.0.1:{port}"
    finally:
        _stop(process)


def _wait_ready(
    url: str, process: subprocess.Popen[bytes], log: Path, path: str = "/-/ready"
) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: exited: {log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}{path}", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready in 30 s: {log.read_text()[-2000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
