"""The worker under test: ``python -m pipeline worker`` in a subprocess, observed from outside.

Readiness is the worker's ``/health`` reporting assigned partitions; progress is read
from its ``/metrics`` (readings processed, rows inserted per table); rows are counted
on its store (the embedded one through the store server it shares); memory is the process's
``VmRSS``/``VmHWM`` from ``/proc``. Optionally py-spy samples it while it works.
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

#: The ``for`` durations at 0 (ARCHITECTURE.md: the latency is the pipeline's own).
ZERO_FOR = {
    "MEGAWATCH_CAP_FOR_S": "0",
    "MEGAWATCH_CAP_RESOLVE_FOR_S": "0",
    "MEGAWATCH_LOSS_FOR_S": "0",
    "MEGAWATCH_LOSS_RESOLVE_FOR_S": "0",
    "MEGAWATCH_IDLE_FOR_S": "0",
}
TELEMETRY_TABLES = ("rack_power", "gpu_samples", "link_samples")
PY_SPY = Path(sys.executable).with_name("py-spy")


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text -> {'name{labels}': value} plus per-name sums under 'name'."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        out[series] = float(value)
        name = series.split("{", 1)[0]
        if "{" in series:
            out[name] = out.get(name, 0.0) + float(value)
    return out


class WorkerProcess:
    def __init__(
        self,
        data_dir: Path,
        extra_env: dict[str, str] | None = None,
        command: list[str] | None = None,
        name: str = "worker",
    ) -> None:
        self.data_dir = data_dir
        self.command = command or [sys.executable, "-m", "pipeline", "worker", "--quiet"]
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MEGAWATCH_")}
        self.env.update(ZERO_FOR)
        self.env.update(
            {
                "MEGAWATCH_DATA_DIR": str(data_dir),
                "MEGAWATCH_WEB_PORT": str(self.port),
                "MEGAWATCH_CLICKHOUSE_DSN": f"chdb://{data_dir / 'clickhouse'}",
            }
        )
        self.env.update(extra_env or {})
        self.name = name
        self.log = data_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)
        self._spy: subprocess.Popen[bytes] | None = None
        self.started: float | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 120) -> float:
        """Start and wait until its web endpoint answers (before it consumes anything:
        Faust serves the web before the group join); returns the seconds it took."""
        started = self.started = time.monotonic()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                self.command, env=self.env, cwd=self.data_dir, stdout=log, stderr=subprocess.STDOUT
            )
        while time.monotonic() - started < timeout:
            self.check_alive()
            try:
                self.http.get("/health", timeout=2).raise_for_status()
                return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"worker not ready in {timeout} s:\n{self.tail()}")

    def wait_log(self, text: str, timeout: float = 120) -> float:
        """Wait until the worker's log holds ``text``; returns the seconds since start."""
        while self.started is not None and time.monotonic() - self.started < timeout:
            self.check_alive()
            if text in self.log.read_text(errors="replace"):
                return time.monotonic() - self.started
            time.sleep(0.1)
        raise RuntimeError(f"worker log has no {text!r} after {timeout} s:\n{self.tail()}")

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def metrics(self) -> dict[str, float]:
        return parse_metrics(self.http.get("/metrics").text)

    def assigned_partitions(self) -> int:
        try:
            return int(self.http.get("/health", timeout=2).json().get("assigned_partitions", 0))
        except (httpx.HTTPError, ValueError):
            return 0

    def stored_rows(self, metrics: dict[str, float] | None = None) -> int:
        """Rows of the telemetry tables inserted so far (from the sink's counters)."""
        m = metrics if metrics is not None else self.metrics()
        return int(
            sum(m.get(f'megawatch_sink_rows_total{{table="{t}"}}', 0.0) for t in TELEMETRY_TABLES)
        )

    def sql(self, query: str) -> list[list[Any]]:
        """A read query on the worker's store, through the same store server."""
        from pipeline.store.reader import read_split, settings_of_child

        return list(read_split(settings_of_child(self.env), query)["data"])

    def count_rows(self) -> dict[str, int]:
        return {t: int(self.sql(f"SELECT count() FROM {t}")[0][0]) for t in TELEMETRY_TABLES}

    def memory_kib(self) -> dict[str, int]:
        """VmRSS and VmHWM (peak) of the worker process, in KiB."""
        out = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
        return out

    # --- profiling ------------------------------------------------------------------
    def start_profile(self, out: Path, rate: int = 100) -> None:
        """py-spy record of the worker (all threads, native frames off) until stopped."""
        fmt = {".json": "speedscope", ".txt": "raw"}.get(out.suffix, "flamegraph")
        argv = [
            str(PY_SPY),
            "record",
            "--pid",
            str(self.pid),
            "--rate",
            str(rate),
            "--threads",
            "--nonblocking",
            "--format",
            fmt,
            "-o",
            str(out),
        ]
        self._spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def dump_stacks(self) -> str:
        """py-spy dump of every thread now (what a stalled worker waits on)."""
        try:
            done = subprocess.run(
                [str(PY_SPY), "dump", "--pid", str(self.pid)],
                capture_output=True,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"py-spy dump failed: {exc}"
        return (done.stdout + done.stderr).decode(errors="replace")

    def stop_profile(self) -> str:
        if self._spy is None:
            return ""
        self._spy.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        try:
            _, err = self._spy.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self._spy.kill()
            _, err = self._spy.communicate()
        self._spy = None
        return err.decode(errors="replace")[-500:]

    def stop(self, timeout: float = 30) -> int | None:
        self.http.close()
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)


class WorkerTeam:
    """Several workers in one consumer group, seen by :func:`phases.drain` as one: their
    metrics and memory are summed, and any of them exiting is a failure."""

    def __init__(self, workers: list[WorkerProcess]) -> None:
        self.workers = workers

    @property
    def pids(self) -> dict[str, int]:
        return {w.name: w.pid for w in self.workers}

    def start(self, timeout: float = 120) -> float:
        started = time.monotonic()
        for worker in self.workers:
            worker.start(timeout)
        return time.monotonic() - started

    def wait_assigned(self, timeout: float = 120) -> float:
        """Until every worker owns partitions (the group has settled); seconds taken."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            self.check_alive()
            if all(w.assigned_partitions() > 0 for w in self.workers):
                return time.monotonic() - started
            time.sleep(0.25)
        raise RuntimeError(f"the workers did not all get partitions in {timeout} s")

    def check_alive(self) -> None:
        for worker in self.workers:
            worker.check_alive()

    def metrics(self) -> dict[str, float]:
        total: dict[str, float] = {}
        for worker in self.workers:
            for key, value in worker.metrics().items():
                total[key] = total.get(key, 0.0) + value
        return total

    def stored_rows(self, metrics: dict[str, float] | None = None) -> int:
        m = metrics if metrics is not None else self.metrics()
        return self.workers[0].stored_rows(m)

    def memory_kib(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for worker in self.workers:
            for key, value in worker.memory_kib().items():
                total[key] = total.get(key, 0) + value
        return total

    def partition_readings(self) -> dict[str, dict[str, int]]:
        """Per worker: readings per partition (megawatch_partition_readings_total)."""
        prefix = 'megawatch_partition_readings_total{partition="'
        return {
            w.name: {
                key[len(prefix) : -2]: int(value)
                for key, value in sorted(w.metrics().items())
                if key.startswith(prefix)
            }
            for w in self.workers
        }

    def stop(self) -> list[int | None]:
        return [worker.stop() for worker in self.workers]
