"""The store server's files in the chDB data directory: token, discovery file, lock, log.

* ``megawatch-store.token``: the per-data-dir secret every client sends (as the HTTP
  password). Created once, mode 0600, so only the user who owns the store can use it.
* ``megawatch-store.json``: where the running server listens (port, pid, instance id);
  written atomically by the server, removed when it stops. A file left by a server that
  was SIGKILLed is stale: :func:`pipeline.store.owner.discover` checks the pid and asks
  the port for the instance id before trusting it.
* ``megawatch-store.lock``: serialises "discover, else start" between processes, so two
  commands started together start one server.
* ``megawatch-store.log``: the server's own output (chDB writes its errors there).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import stat
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.errors import StoreError
from pipeline.host import exclusive_lock
from pipeline.host import pid_alive as pid_alive  # the same check for both servers

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
USER = "megawatch"
TOKEN_FILE = "megawatch-store.token"
DISCOVERY_FILE = "megawatch-store.json"
LOCK_FILE = "megawatch-store.lock"
LOG_FILE = "megawatch-store.log"
MIGRATE_LOCK_FILE = "megawatch-store.migrate.lock"
_TOKEN_BYTES = 32


@dataclass(frozen=True)
class ServerInfo:
    """A running store server, as written to ``megawatch-store.json``."""

    port: int
    pid: int
    instance: str  # fresh per start: tells a live server from a reused port

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def ensure_data_dir(path: Path) -> None:
    """Create the chDB directory, or say in one line why it cannot be used."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot create the chDB data directory {path} (MEGAWATCH_CLICKHOUSE_DSN / "
            f"MEGAWATCH_DATA_DIR): {exc.strerror}"
        ) from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise StoreError(
            f"the chDB data directory {path} is not writable by this user "
            "(check its permissions, or point MEGAWATCH_DATA_DIR / MEGAWATCH_CLICKHOUSE_DSN "
            "at a writable directory)"
        )


def read_or_create_token(path: Path) -> str:
    """The data dir's token, created (0600) on first use; a readable-by-others file is
    tightened to 0600 with a warning."""
    token_path = path / TOKEN_FILE
    try:
        fd = os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_token(path)
    except OSError as exc:
        raise StoreError(f"cannot create the store token {token_path}: {exc.strerror}") from exc
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(token + "\n")
    return token


def read_token(path: Path) -> str:
    """The token of a data dir whose server has created it."""
    token_path = path / TOKEN_FILE
    try:
        mode = token_path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("store token %s was readable by others: set to 0600", token_path)
            token_path.chmod(0o600)
        token = token_path.read_text(encoding="ascii").strip()
    except OSError as exc:
        raise StoreError(
            f"cannot read the store token {token_path} ({exc.strerror}): "
            "run megawatch as the user who owns the data directory"
        ) from exc
    if not token:
        raise StoreError(f"the store token {token_path} is empty: delete it and start again")
    return token


def write_discovery(path: Path, info: ServerInfo) -> None:
    """Write ``megawatch-store.json`` atomically (readers never see half a file)."""
    target = path / DISCOVERY_FILE
    temp = target.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(asdict(info)) + "\n")
    os.replace(temp, target)


def read_discovery(path: Path) -> ServerInfo | None:
    """The server the discovery file names (not checked), None when there is none."""
    try:
        raw = json.loads((path / DISCOVERY_FILE).read_text(encoding="utf-8"))
        return ServerInfo(port=int(raw["port"]), pid=int(raw["pid"]), instance=str(raw["instance"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        log.warning("ignoring unreadable store discovery file %s", path / DISCOVERY_FILE)
        return ServerInfo(port=0, pid=-1, instance="")


def remove_discovery(path: Path, pid: int) -> None:
    """Remove the discovery file if it still describes the server with ``pid``."""
    current = read_discovery(path)
    if current is not None and current.pid == pid:
        (path / DISCOVERY_FILE).unlink(missing_ok=True)


@contextlib.contextmanager
def start_lock(path: Path) -> Iterator[None]:
    """Hold the data dir's start lock (flock: released by the kernel if we die)."""
    with exclusive_lock(path / LOCK_FILE):
        yield


@contextlib.contextmanager
def migration_lock(path: Path | None) -> Iterator[None]:
    """Serialise migrations of the embedded store in ``path`` between processes on this
    machine (no-op for a server: ``path`` None)."""
    if path is None:
        yield
        return
    with exclusive_lock(path / MIGRATE_LOCK_FILE):
        yield
