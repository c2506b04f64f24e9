"""The embedded broker's files in the data dir: discovery file, start lock, log tail.

``<data_dir>/broker.json`` exists while a broker started for that data dir runs, so other
megawatch commands (same ``MEGAWATCH_DATA_DIR``) use it instead of starting their own.
A file left by a broker that died (its parent was SIGKILLed) is recognised as stale by
:func:`discover`: its pid is gone, or whatever answers on its port reports another
cluster id (each start gets a fresh one), and it is removed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipeline.broker.probe import kafka_cluster_id
from pipeline.host import exclusive_lock, pid_alive

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
DISCOVERY_FILE = "broker.json"
LOCK_FILE = "broker.lock"
_TAIL_BYTES = 4096
_TAIL_LINES = 4


@dataclass(frozen=True)
class BrokerInfo:
    """Where a running embedded broker is, as written to ``broker.json``."""

    bootstrap: str
    pid: int
    cluster_id: str
    started_at: str  # ISO 8601, UTC

    @classmethod
    def now(cls, port: int, pid: int, cluster_id: str) -> BrokerInfo:
        started = datetime.now(UTC).isoformat(timespec="milliseconds")
        return cls(f"{HOST}:{port}", pid, cluster_id, started)

    @property
    def host(self) -> str:
        return self.bootstrap.rpartition(":")[0]

    @property
    def port(self) -> int:
        return int(self.bootstrap.rpartition(":")[2])


def discovery_path(data_dir: Path) -> Path:
    return Path(data_dir) / DISCOVERY_FILE


def write_discovery_file(data_dir: Path, info: BrokerInfo) -> None:
    """Write ``broker.json`` atomically (readers never see half a file)."""
    path = discovery_path(data_dir)
    temp = path.with_suffix(f".{os.getpid()}.tmp")
    temp.write_text(json.dumps(asdict(info), indent=2) + "\n", encoding="utf-8")
    os.replace(temp, path)


def _read_discovery_file(path: Path) -> BrokerInfo | None:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return BrokerInfo(
            bootstrap=str(raw["bootstrap"]),
            pid=int(raw["pid"]),
            cluster_id=str(raw["cluster_id"]),
            started_at=str(raw["started_at"]),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        logger.warning("ignoring unreadable broker discovery file %s", path)
        return BrokerInfo("", -1, "", "")  # stale: removed by the caller


def remove_discovery_file(data_dir: Path, pid: int) -> None:
    """Remove ``broker.json`` if it still describes the broker with ``pid``."""
    path = discovery_path(data_dir)
    current = _read_discovery_file(path)
    if current is not None and current.pid == pid:
        path.unlink(missing_ok=True)


def discover(data_dir: Path, *, timeout: float = 2.0) -> BrokerInfo | None:
    """The embedded broker running for ``data_dir``, or None (a stale file is removed).

    Running means: the pid in ``broker.json`` is alive and a Kafka broker answering at
    its address reports the cluster id written there.
    """
    path = discovery_path(data_dir)
    info = _read_discovery_file(path)
    if info is None:
        return None
    if pid_alive(info.pid) and info.bootstrap:
        answered = kafka_cluster_id(info.host, info.port, timeout=timeout)
        if answered == info.cluster_id:
            return info
    logger.info("removing stale broker discovery file %s (pid %s)", path, info.pid)
    remove_discovery_file(data_dir, info.pid)
    return None


@contextlib.contextmanager
def broker_lock(data_dir: Path) -> Iterator[None]:
    """Serialise "discover, else start" between processes sharing a data dir.

    Without it two commands started together would both find no broker and start two.
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(data_dir / LOCK_FILE):
        yield


def log_tail(path: Path, lines: int = _TAIL_LINES) -> str:
    """The last ``lines`` non-empty lines of a log, joined into one line."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - _TAIL_BYTES))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(kept[-lines:])
