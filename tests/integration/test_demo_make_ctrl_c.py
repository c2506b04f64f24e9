"""Ctrl-C typed into a real terminal (a pty) while `make demo` runs: make must exit 0
too, after the demo's summary. Without the demo taking the terminal's foreground, make
gets the same SIGINT and kills itself with it (exit 130) whatever the demo does."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import shutil
import struct
import sys
import termios
import time
from pathlib import Path

import pytest

from tests.integration.test_demo import processes_of

pytestmark = pytest.mark.integration

STARTED = b"simulated fleet publishing"


def _read_until(fd: int, needle: bytes | None, deadline: float, seen: bytearray) -> bool:
    """Read the pty into ``seen`` until ``needle`` shows (or EOF when needle is None)."""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side closed
            return needle is None
        if not chunk:
            return needle is None
        seen += chunk
        if needle is not None and needle in seen:
            return True
    return False


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
def test_ctrl_c_under_make_prints_the_summary_and_make_exits_0(tmp_path: Path) -> None:
    makefile = tmp_path / "Makefile"
    makefile.write_text(f"demo:\n\t{sys.executable} -m pipeline demo --sites 3 --breach-after 3\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEGAWATCH_")}
    env.update(
        {
            "MEGAWATCH_DATA_DIR": str(tmp_path / "data"),
            "TERM": "xterm",
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        }
    )
    pid, fd = pty.fork()
    if pid == 0:  # the child: a session of its own with the pty as its terminal
        os.chdir(tmp_path)
        os.execvpe("make", ["make", "-s", "-f", str(makefile), "demo"], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    seen = bytearray()
    try:
        assert _read_until(fd, STARTED, time.monotonic() + 180, seen), seen[-3000:]
        time.sleep(6)  # the live part: readings flow
        os.write(fd, b"\x03")  # Ctrl-C, as typed: the terminal signals its foreground
        typed = time.monotonic()
        assert _read_until(fd, None, typed + 60, seen), seen[-3000:]
        _, status = os.waitpid(pid, 0)
        took = time.monotonic() - typed
    finally:
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)
    out = seen.decode(errors="replace")
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (status, out[-3000:])
    assert "demo finished" in out, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    # make is not interrupted, so it says nothing of one (the Makefile's comment says so:
    # tests/unit/test_demo_words.py)
    assert "Interrupt" not in out, out[-3000:]
    assert processes_of(tmp_path / "data") == []
    assert took < 20, f"make exited {took:.1f} s after Ctrl-C"
