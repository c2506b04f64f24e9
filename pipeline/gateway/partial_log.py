"""The join buffer's log: what waits in :class:`pipeline.gateway.joins.Joiner`, on disk.

JSON lines appended (``O_APPEND``) before a request is answered: a SIGKILLed gateway
loses nothing it acknowledged, since the kernel keeps what was written (no fsync per
request: a machine crash may lose the last writes). One file per gateway, held with an
exclusive lock: two gateways on one machine need their own ``--state-dir`` (or port).
Past ``compact_bytes`` (or twice its size after the last compaction) the file is
rewritten from the joiner's snapshot (written aside, then renamed over).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from pipeline.errors import ConfigError

logger = logging.getLogger(__name__)

COMPACT_BYTES = 8 * 1024 * 1024


class PartialLog:
    def __init__(self, path: Path, compact_bytes: int = COMPACT_BYTES) -> None:
        self.path = path
        self.compact_bytes = compact_bytes
        self.snapshot: Callable[[], list[dict[str, Any]]] = list
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = _lock(path.with_suffix(".lock"))
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._size = os.fstat(self._fd).st_size
        self._limit = compact_bytes

    def read(self) -> list[dict[str, Any]]:
        """Every record in the file; a torn last line (a kill mid-write) is skipped."""
        records = []
        for line in self.path.read_bytes().splitlines():
            try:
                records.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                logger.warning("%s: skipping a torn record", self.path)
        return records

    def append(self, record: dict[str, Any]) -> None:
        line = orjson.dumps(record) + b"\n"
        os.write(self._fd, line)
        self._size += len(line)
        if self._size > self._limit:
            self.compact()

    def compact(self) -> None:
        records = self.snapshot()
        aside = self.path.with_suffix(".compacting")
        aside.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
        os.replace(aside, self.path)
        os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._size = os.fstat(self._fd).st_size
        # a large present state (many entities) must not make every append a compaction
        self._limit = max(self.compact_bytes, 2 * self._size)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)
        with contextlib.suppress(OSError):
            os.close(self._lock)


def _lock(path: Path) -> int:
    import fcntl

    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConfigError(
            f"{path.parent}: another gateway uses this state directory; give each gateway "
            "its own (--state-dir, or MEGAWATCH_GATEWAY_STATE_DIR)"
        ) from None
    return fd
