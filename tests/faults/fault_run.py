"""Fault scenarios through a real worker process, embedded broker and embedded store,
and the accounting of what came out: one :class:`Tally` row per scenario.

Shared by the fault suite (tests/faults, short) and ``benchmarks/faults.py`` (long).
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corpus import Item
from kafka import KafkaProducer

from pipeline.demo.worker_process import WorkerProcess
from pipeline.errors import MegawatchError
from pipeline.kafka.topics import RACK_POWER

WORKER_ENV = {
    "MEGAWATCH_KAFKA_PARTITIONS": "4",
    "MEGAWATCH_SINK_FLUSH_INTERVAL_S": "0.5",
    "MEGAWATCH_EVAL_INTERVAL_S": "1",
    "MEGAWATCH_LOG_LEVEL": "INFO",
}
HEADER = (
    "scenario",
    "valid produced",
    "stored",
    "invalid produced",
    "dead letters",
    "duplicates",
    "lost",
    "crashes",
)
#: Log lines of a worker that failed on its own (an agent crash, an unhandled error).
CRASH = re.compile(r"Crashed reason=|Traceback \(most recent call last\)|exited with status")


@dataclass
class Tally:
    scenario: str
    valid_produced: int
    stored: int
    invalid_produced: int
    dead_letters: int
    duplicates: int
    lost: int
    crashes: int

    def row(self) -> tuple[Any, ...]:
        return tuple(self.__dict__.values())


class Worker(WorkerProcess):
    """``megawatch worker`` on ``data_dir`` (its own store) with short flush intervals."""

    def __init__(self, data_dir: Path, extra_env: dict[str, str] | None = None) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEGAWATCH_")}
        env.update(WORKER_ENV)
        env.update(
            {
                "MEGAWATCH_DATA_DIR": str(data_dir),
                "MEGAWATCH_CLICKHOUSE_DSN": f"chdb://{data_dir / 'clickhouse'}",
            }
        )
        env.update(extra_env or {})
        data_dir.mkdir(parents=True, exist_ok=True)
        super().__init__(env, data_dir / "worker.log", cwd=data_dir)
        self.kills = 0

    def kill(self) -> None:
        """SIGKILL: no flush, no commit, no goodbye."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self.kills += 1

    def crashes(self) -> int:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return len(CRASH.findall(text))


def producer(bootstrap: str) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        compression_type="lz4",
        enable_idempotence=False,
        linger_ms=5,
        max_request_size=4 * 1024 * 1024,
    )


def send(prod: KafkaProducer, items: Iterable[Item], topic: str = RACK_POWER) -> tuple[int, int]:
    """Send ``items``; returns (valid events, dead letters) they must give."""
    valid = dead = 0
    for item in items:
        prod.send(topic, key=item.key, value=item.value)
        valid += item.valid
        dead += item.dead
    prod.flush(60)
    return valid, dead


def chunks(items: Iterator[Item], size: int) -> Iterator[list[Item]]:
    chunk: list[Item] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def counts(worker: Worker) -> tuple[int, int, int]:
    """(rows, distinct rows, dead letters as queries see them) in the worker's store."""
    [row] = worker.sql(
        "SELECT (SELECT count() FROM rack_power) AS rows, "
        "(SELECT uniqExact(site, rack, ts) FROM rack_power) AS distinct_rows, "
        "(SELECT count() FROM dead_letters WHERE topic = {t:String}) AS dead",
        {"t": RACK_POWER},
    )
    return int(row["rows"]), int(row["distinct_rows"]), int(row["dead"])


def settle(worker: Worker, valid: int, dead: int, timeout: float) -> tuple[int, int, int]:
    """Wait until the store holds what is expected, or nothing changes for a while."""
    deadline = time.monotonic() + timeout
    last: tuple[int, int, int] | None = None
    still_since = time.monotonic()
    while time.monotonic() < deadline:
        try:
            now = counts(worker)
        except (MegawatchError, OSError, KeyError, ValueError):
            time.sleep(1)
            continue
        if now[1] >= valid and now[2] >= dead:
            time.sleep(2)  # a little longer: duplicates would show now
            return counts(worker)
        if now != last:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since > 30:
            break
        time.sleep(1)
    return last or counts(worker)


def tally(name: str, worker: Worker, valid: int, dead: int, timeout: float) -> Tally:
    rows, distinct, stored_dead = settle(worker, valid, dead, timeout)
    return Tally(
        scenario=name,
        valid_produced=valid,
        stored=distinct,
        invalid_produced=dead,
        dead_letters=stored_dead,
        duplicates=(rows - distinct) + max(0, stored_dead - dead),
        lost=max(0, valid - distinct) + max(0, dead - stored_dead),
        crashes=worker.crashes(),
    )


def run_with_kills(
    bootstrap: str,
    data_dir: Path,
    name: str,
    items: Iterator[Item],
    *,
    chunk: int,
    kills: int,
    timeout: float = 180,
    pause_s: float = 1.0,
    extra_env: dict[str, str] | None = None,
) -> Tally:
    """Send ``items`` in chunks to a worker, SIGKILLing and restarting it after each of
    the first ``kills`` chunks (mid-stream: the worker is still busy with the chunk).
    ``data_dir`` is the embedded broker's: the worker finds the broker there."""
    worker = Worker(data_dir, extra_env).start()
    valid = dead = 0
    prod = producer(bootstrap)
    try:
        for i, part in enumerate(chunks(items, chunk)):
            v, d = send(prod, part)
            valid, dead = valid + v, dead + d
            if i < kills:
                time.sleep(pause_s)  # some of it stored, some buffered, some not read
                worker.kill()
                worker.start()
        return tally(name, worker, valid, dead, timeout)
    finally:
        prod.close()
        worker.stop()


def table(rows: Iterable[Tally]) -> str:
    """The one table of the fault campaign, as Markdown."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for t in rows:
        lines.append(
            "| " + " | ".join(f"{v:,}" if isinstance(v, int) else v for v in t.row()) + " |"
        )
    return "\n".join(lines)
