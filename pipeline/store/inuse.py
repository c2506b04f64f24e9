"""Why a chDB data directory cannot be opened, told in one line (by the store server,
the one process that opens it; another program holding it is the usual cause).

chDB runs a ClickHouse server inside the process. That server takes an exclusive
``flock`` on ``<data dir>/status`` and writes its pid there (``PID: 1234``), so a second
process on the same directory fails, and chDB reports only ``Error initializing
EmbeddedServer`` (the real cause, ``Cannot lock file .../status``, goes to fd 2). In one
process the engine is bound to the first directory opened until every client on it is
closed; a client on another directory then fails with ``EmbeddedServer already
initialized with path ...``. Both become :class:`StoreInUseError` naming the directory,
the holder and what to do.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pipeline.errors import StoreError, StoreInUseError
from pipeline.store.messages import one_line

log = logging.getLogger(__name__)

STATUS_FILE = "status"
_OTHER_PATH = re.compile(r"already initialized with path '([^']*)'")
_PID_LINE = re.compile(r"^PID:\s*(\d+)\s*$", re.MULTILINE)
_CMDLINE_CHARS = 80
WHAT_TO_DO = (
    "stop that process (megawatch reaches the store through its store server only) or "
    "point MEGAWATCH_CLICKHOUSE_DSN at another directory or a ClickHouse server"
)


class CapturedText:
    """What was written to fd 2 inside :func:`captured_stderr` (set when it exits)."""

    text: str = ""


@contextlib.contextmanager
def captured_stderr() -> Iterator[CapturedText]:
    """Send fd 2 to a temporary file for the duration of the block.

    Works on the file descriptor, not ``sys.stderr``, because the engine's C++ code
    writes there directly. Other threads' stderr output in that window is delayed, not
    lost: the caller passes the text on when it is not an error to interpret.
    """
    box = CapturedText()
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield box
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            box.text = sink.read().decode("utf-8", errors="replace")


def status_file_locked(data_dir: Path) -> bool:
    """True when some open file description holds the engine's lock on ``status``.

    flock locks belong to open file descriptions, so this also sees a holder in this
    very process. Taking the lock succeeds only when it is free; it is dropped at once.
    """
    try:
        fd = os.open(data_dir / STATUS_FILE, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def holder_pid(data_dir: Path) -> int | None:
    """The pid the engine that holds the directory wrote into ``status``, if readable."""
    try:
        text = (data_dir / STATUS_FILE).read_text(errors="replace")
    except OSError:
        return None
    match = _PID_LINE.search(text)
    return int(match.group(1)) if match else None


def describe_holder(data_dir: Path) -> str:
    """``pid 1234 (megawatch worker)``, ``pid 1234`` or ``another process``."""
    pid = holder_pid(data_dir)
    if pid is None:
        return "another process"
    if pid == os.getpid():
        return f"this process (pid {pid})"
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return f"pid {pid}"
    argv = (part.decode(errors="replace") for part in raw.split(b"\0") if part)
    command = " ".join(" ".join(argv).split())  # one line, even for `python -c "..."`
    if len(command) > _CMDLINE_CHARS:
        command = command[: _CMDLINE_CHARS - 3] + "..."
    return f"pid {pid} ({command})" if command else f"pid {pid}"


def diagnose_open_failure(data_dir: Path, exc: BaseException, stderr_text: str) -> StoreError:
    """The error to raise for a failed open of the chDB engine on ``data_dir``."""
    other = _OTHER_PATH.search(str(exc))
    if other:
        return StoreInUseError(
            f"chDB store {data_dir} cannot be opened: this process already has the chDB "
            f"store {other.group(1)} open and chDB allows one data directory per process; "
            "close that store first"
        )
    if "Cannot lock file" in stderr_text or status_file_locked(data_dir):
        return StoreInUseError(
            f"chDB store {data_dir} is in use by {describe_holder(data_dir)}: {WHAT_TO_DO}"
        )
    log.debug("chDB engine output while opening %s: %s", data_dir, stderr_text.strip())
    cause = _first_exception_line(stderr_text) or one_line(exc)
    return StoreError(f"cannot open the chDB store {data_dir}: {cause}")


def _first_exception_line(text: str) -> str:
    for line in text.splitlines():
        if "Exception" in line:
            return " ".join(line.split())
    return ""
