"""The store full, then freed, with a SIGKILL while full (issue 10 #1 and #9).

The store's data directory is a small tmpfs of its own (root only: ``mount -t tmpfs``);
a filler file takes its free space so that every insert fails with "no space left".
The worker must stop consuming (back-pressure, bounded memory), lose nothing when it is
SIGKILLed in that state, and store everything exactly once after the space is freed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from corpus import Item
from fault_run import Tally, Worker, chunks, producer, send, tally

from pipeline.store import owner

FILLER = "filler.bin"


def can_mount() -> bool:
    return os.geteuid() == 0


@contextlib.contextmanager
def tmpfs(path: Path, size_mb: int) -> Iterator[Path]:
    """A tmpfs of ``size_mb`` at ``path``; unmounted (and its store server stopped)
    whatever happens."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)], check=True
    )
    try:
        yield path
    finally:
        with contextlib.suppress(Exception):
            owner.stop(path)
        if subprocess.run(["umount", str(path)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], check=False)  # busy: detach


def fill(path: Path) -> int:
    """Take every free byte of ``path``'s file system; returns the bytes written.

    Only on a small mount of its own: never fill a disk others share."""
    stat = os.statvfs(path)
    if not os.path.ismount(path) or stat.f_blocks * stat.f_frsize > 1 << 30:
        raise RuntimeError(f"{path} is not a small mount of its own: not filling it")
    block = b"\0" * (1 << 20)
    written = 0
    with (path / FILLER).open("wb") as out:
        while True:
            try:
                out.write(block)
                out.flush()
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
            written += len(block)
    # the last partial megabyte too, so that even a small part cannot be written
    with contextlib.suppress(OSError), (path / f"{FILLER}.tail").open("wb") as out:
        for _ in range(1024):
            out.write(b"\0" * 1024)
            out.flush()
    return written


def free(path: Path) -> None:
    for name in (FILLER, f"{FILLER}.tail"):
        (path / name).unlink(missing_ok=True)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class FullObservation:
    """What the worker showed while the store was full."""

    health: list[dict[str, object]] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)

    @property
    def paused(self) -> bool:
        return any(h.get("backpressure") for h in self.health)

    @property
    def failing(self) -> bool:
        return any(h.get("sink_failing") for h in self.health)

    @property
    def peak_rss_mib(self) -> float:
        return max(self.rss_mib, default=0.0)

    @property
    def peak_buffered_rows(self) -> int:
        return max((int(h.get("buffered_rows", 0)) for h in self.health), default=0)  # type: ignore[call-overload]


def observe(worker: Worker, seconds: float, into: FullObservation) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert worker.proc is not None
        with contextlib.suppress(httpx.HTTPError, ValueError):
            into.health.append(httpx.get(f"{worker.url}/health", timeout=2).json())
        with contextlib.suppress(OSError):
            into.rss_mib.append(rss_mib(worker.proc.pid))
        time.sleep(0.5)


def run_store_full(
    bootstrap: str,
    data_dir: Path,
    name: str,
    items: Iterator[Item],
    *,
    chunk: int,
    size_mb: int = 40,
    full_s: float = 8.0,
    max_buffered_rows: int = 5_000,
    timeout: float = 180,
) -> tuple[Tally, FullObservation]:
    """Fill the store, send ``items`` (the first ``chunk`` while it is full), SIGKILL
    the worker while full, free the space, restart, send the rest, and count."""
    store_dir = data_dir / "clickhouse"
    seen = FullObservation()
    with tmpfs(store_dir, size_mb):
        env = {
            "MEGAWATCH_SINK_MAX_BUFFERED_ROWS": str(max_buffered_rows),
            "MEGAWATCH_SINK_FLUSH_INTERVAL_S": "1",
        }
        worker = Worker(data_dir, env).start()
        prod = producer(bootstrap)
        valid = dead = 0
        try:
            parts = chunks(items, chunk)
            fill(store_dir)
            v, d = send(prod, next(parts))
            valid, dead = valid + v, dead + d
            observe(worker, full_s, seen)
            worker.kill()
            free(store_dir)
            worker.start()
            for part in parts:
                v, d = send(prod, part)
                valid, dead = valid + v, dead + d
            result = tally(name, worker, valid, dead, timeout)
        finally:
            prod.close()
            worker.stop()
            free(store_dir)
    return result, seen
