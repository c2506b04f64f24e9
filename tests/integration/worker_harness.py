"""A real megawatch worker in a subprocess, on a real embedded broker, for the tests.

The broker runs in the test process (so it outlives worker restarts); the worker is
``python -m pipeline worker`` with its own data dir and chDB store, found through the
broker's discovery file. Rows are read through the worker's ``/api/sql`` while it runs
(it owns the embedded store), alerts from the ``alerts`` topic with kafka-python.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from pipeline.broker import free_port

#: Short windows so a scenario runs in seconds, not minutes.
FAST_RULES = {
    "MEGAWATCH_STALE_AFTER_S": "3",
    "MEGAWATCH_CAP_FOR_S": "1",
    "MEGAWATCH_CAP_RESOLVE_FOR_S": "1",
    "MEGAWATCH_LOSS_WINDOW_S": "4",
    "MEGAWATCH_LOSS_RESOLVE_FOR_S": "1",
    "MEGAWATCH_LOSS_MIN_TX_PACKETS": "100",
    "MEGAWATCH_EVAL_INTERVAL_S": "0.5",
    "MEGAWATCH_SINK_FLUSH_INTERVAL_S": "0.5",
    "MEGAWATCH_KAFKA_PARTITIONS": "4",
}


class WorkerProcess:
    def __init__(self, data_dir: Path, extra_env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MEGAWATCH_")}
        self.env.update(FAST_RULES)
        self.env.update(
            {
                "MEGAWATCH_DATA_DIR": str(data_dir),
                "MEGAWATCH_WEB_PORT": str(self.port),
                "MEGAWATCH_CLICKHOUSE_DSN": f"chdb://{data_dir / 'clickhouse'}",
            }
        )
        self.env.update(extra_env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "worker.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> WorkerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pipeline", "worker", "--quiet"],
                env=self.env,
                cwd=self.data_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited {self.proc.returncode}:\n{self.tail()}")
            try:
                health = httpx.get(f"{self.url}/health", timeout=2).json()
                if health.get("assigned_partitions", 0) > 0:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"worker not ready in {timeout} s:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def sql(self, query: str) -> list[dict[str, Any]]:
        response = httpx.post(f"{self.url}/api/sql", json={"sql": query}, timeout=30)
        body = response.json()
        assert response.status_code == 200, body
        return [dict(zip(body["columns"], row, strict=True)) for row in body["data"]]

    def state(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/api/state", timeout=5).json()


def producer(bootstrap: str) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=bootstrap, compression_type="lz4", enable_idempotence=False, linger_ms=0
    )


def send_batch(prod: KafkaProducer, topic: str, site: str, events: Iterable[dict]) -> None:
    prod.send(topic, key=site.encode(), value=json.dumps({"events": list(events)}).encode())


def read_topic(bootstrap: str, topic: str, settle_s: float = 2.0) -> list[dict[str, Any]]:
    """Every record of ``topic``, as JSON, reading until nothing new for ``settle_s``."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        consumer_timeout_ms=int(settle_s * 1000),
    )
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        return [json.loads(m.value) for m in consumer]
    finally:
        consumer.close()


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def now_ms() -> int:
    return int(time.time() * 1000)
