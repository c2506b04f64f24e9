"""A real megawatch worker in a subprocess, on a real embedded broker, for the tests.

The broker runs in the test process (so it outlives worker restarts); the worker is
``python -m pipeline worker`` with its own data dir and chDB store, found through the
broker's discovery file. Rows are read from the worker's store (through the store server
they share) while it runs, alerts from the ``alerts`` topic with kafka-python.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from pipeline.demo.worker_process import WorkerProcess as ManagedWorker
from pipeline.errors import MegawatchError

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


class WorkerProcess(ManagedWorker):
    """A worker on ``data_dir`` with the fast rule windows above."""

    def __init__(self, data_dir: Path, extra_env: dict[str, str] | None = None) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEGAWATCH_")}
        env.update(FAST_RULES)
        env.update(
            {
                "MEGAWATCH_DATA_DIR": str(data_dir),
                "MEGAWATCH_CLICKHOUSE_DSN": f"chdb://{data_dir / 'clickhouse'}",
            }
        )
        env.update(extra_env or {})
        data_dir.mkdir(parents=True, exist_ok=True)
        super().__init__(env, data_dir / "worker.log", cwd=data_dir)
        self.data_dir = data_dir

    def start(self, timeout: float = 90) -> WorkerProcess:
        try:
            super().start(timeout)
        except MegawatchError as exc:
            raise AssertionError(f"{exc}\n{self.tail()}") from None
        return self

    def tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


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


class WorkerFleet:
    """Several ``megawatch worker`` processes sharing one data dir (broker discovery) and
    one embedded store (through its store server), with the fast rule windows."""

    def __init__(self, tmp_path: Path, partitions: int, extra_env: dict[str, str] | None = None):
        self.tmp_path = tmp_path
        self.started: list[ManagedWorker] = []
        data = tmp_path / "data"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEGAWATCH_")}
        env.update(FAST_RULES)
        env.update(
            {
                "MEGAWATCH_KAFKA_PARTITIONS": str(partitions),
                "MEGAWATCH_DATA_DIR": str(data),
                "MEGAWATCH_CLICKHOUSE_DSN": f"chdb://{data / 'clickhouse'}",
            }
        )
        env.update(extra_env or {})
        self.env = env

    def start(self, name: str) -> ManagedWorker:
        worker = ManagedWorker(dict(self.env), self.tmp_path / f"{name}.log", cwd=self.tmp_path)
        self.started.append(worker)
        return worker.start(timeout=120)

    def start_all(self, names: Iterable[str]) -> None:
        """Start workers side by side (each waits for its partitions)."""
        import threading

        starters = [threading.Thread(target=self.start, args=(name,)) for name in names]
        for thread in starters:
            thread.start()
        for thread in starters:
            thread.join()

    def running(self) -> list[ManagedWorker]:
        return [w for w in self.started if w.proc is not None and w.proc.poll() is None]

    def stop_all(self) -> None:
        for worker in self.started:
            worker.stop()
