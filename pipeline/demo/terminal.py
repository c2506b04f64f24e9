"""Ctrl-C for the demo alone, when something else started it (``make demo``).

A terminal sends Ctrl-C to its whole foreground process group. Started from a shell,
the demo leads that group and handles the signal itself (summary, clean stop, exit 0).
Started by ``make``, the group is make's: make gets the same SIGINT and, by design,
kills itself with it after its child returns (exit 130), whatever the demo did. So when
the demo is not its group's leader, it moves into a group of its own and makes that
group the terminal's foreground for as long as it runs; then Ctrl-C reaches the demo
alone, the demo exits 0, and make with it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def terminal_foreground() -> Iterator[None]:
    """Own the controlling terminal's foreground while the block runs (no-op without
    a terminal, or when this process already leads its group)."""
    fd = _terminal_fd()
    if fd is None or os.getpgrp() == os.getpid():
        yield
        return
    before = os.tcgetpgrp(fd)
    os.setpgid(0, 0)
    _set_foreground(fd, os.getpgrp())
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            _set_foreground(fd, before)


def _terminal_fd() -> int | None:
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, OSError, ValueError):
            fd = stream.fileno()
            if os.isatty(fd) and os.tcgetpgrp(fd) > 0:
                return fd
    return None


def _set_foreground(fd: int, pgrp: int) -> None:
    # A process outside the foreground group that calls tcsetpgrp gets SIGTTOU (and
    # stops) unless it ignores it for the call.
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(fd, pgrp)
    finally:
        signal.signal(signal.SIGTTOU, previous)
