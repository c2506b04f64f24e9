"""Finding the store server of a chDB directory, or starting one.

``connect_info(path)`` returns where the server for ``path`` listens and the token to
send. Under the directory's start lock it trusts the discovery file only if its pid is
alive and the port answers ``/ping`` with the instance id written there; otherwise it
removes the stale file and starts ``python -m pipeline.store.server`` in its own session
(so it outlives the process that started it: a worker's SIGKILL does not take the store
from the other workers). A server that was SIGKILLed leaves nothing that blocks the
next start: the engine's lock and the start lock are flocks, released by the kernel.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipeline.errors import StoreError
from pipeline.store import server_files as files

log = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0  # chDB maps a 555 MB library: seconds on a busy machine
_POLL_S = 0.05
#: servers this process started (tests stop them when they finish)
STARTED: list[tuple[Path, int]] = []


def connect_info(path: Path, idle_exit_s: float) -> tuple[files.ServerInfo, str]:
    """The running server for ``path`` (started if needed) and its token."""
    files.ensure_data_dir(path)
    with files.start_lock(path):
        info = discover(path)
        if info is None:
            info = _start(path, idle_exit_s)
    return info, files.read_token(path)


def discover(path: Path, timeout: float = 2.0) -> files.ServerInfo | None:
    """The server named by the discovery file if it is really running; a stale file is
    removed."""
    info = files.read_discovery(path)
    if info is None:
        return None
    if files.pid_alive(info.pid) and _answers(info, timeout):
        return info
    log.info("removing stale store discovery file in %s (pid %s)", path, info.pid)
    files.remove_discovery(path, info.pid)
    return None


def stop(path: Path, timeout: float = 20.0) -> int | None:
    """SIGTERM the server of ``path`` and wait for it; returns its pid, None if none ran."""
    info = discover(path)
    if info is None:
        return None
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while files.pid_alive(info.pid) and time.monotonic() < deadline:
        _reap(info.pid)
        time.sleep(_POLL_S)
    if files.pid_alive(info.pid):
        os.kill(info.pid, signal.SIGKILL)
    return info.pid


def _answers(info: files.ServerInfo, timeout: float) -> bool:
    connection = http.client.HTTPConnection(files.HOST, info.port, timeout=timeout)
    try:
        connection.request("GET", "/ping")
        response = connection.getresponse()
        response.read()
        return response.getheader("X-Megawatch-Store-Instance") == info.instance
    except OSError:
        return False
    finally:
        connection.close()


def _start(path: Path, idle_exit_s: float) -> files.ServerInfo:
    files.read_or_create_token(path)  # before the server, so a client never races it
    command = [sys.executable, "-m", "pipeline.store.server", str(path)]
    command += ["--idle-exit-s", str(idle_exit_s)]
    log_path = path / files.LOG_FILE
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,  # not in our process group: a Ctrl-C or kill of ours
            close_fds=True,
        )
    STARTED.append((path, process.pid))
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        info = files.read_discovery(path)
        if info is not None and info.pid == process.pid and _answers(info, 2.0):
            log.info("started the store server for %s (pid %s)", path, process.pid)
            return info
        if process.poll() is not None:
            raise StoreError(f"the store server for {path} did not start: {_last_line(log_path)}")
        time.sleep(_POLL_S)
    process.kill()
    raise StoreError(
        f"the store server for {path} did not answer within {START_TIMEOUT_S:.0f} s "
        f"(its log: {log_path})"
    )


def _last_line(log_path: Path) -> str:
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return "no log"
    for line in reversed(lines):
        if line.startswith("megawatch store server: "):
            return line.removeprefix("megawatch store server: ")
    tail = [line.strip() for line in lines if line.strip()]
    return tail[-1][:300] if tail else f"it exited without output (log {log_path})"


def _reap(pid: int) -> None:
    """Collect our own child's exit status so that it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
