"""What processes of one machine share: an exclusive file lock and a pid check.

The embedded broker's start lock, the store server's start lock and the store's
migration lock are all :func:`exclusive_lock`; the broker's and the store server's
discovery files are both checked for a dead owner with :func:`pid_alive`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["exclusive_lock", "pid_alive"]


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs (ours or another user's)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


@contextlib.contextmanager
def exclusive_lock(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive flock on ``lock_file`` (created if missing) between processes;
    the kernel releases it if the holder dies."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, the race stays (documented)
        yield
        return
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
