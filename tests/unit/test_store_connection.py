"""DSN parsing, one-line error messages and the chDB "store in use" diagnosis."""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
from pathlib import Path

import pytest

from pipeline.errors import ConfigError, StoreError, StoreInUseError
from pipeline.settings import load_settings
from pipeline.store.connection import parse_target
from pipeline.store.inuse import diagnose_open_failure, holder_pid
from pipeline.store.messages import one_line

ENGINE_ERROR = RuntimeError(
    "Failed to create connection: Code: 36. DB::Exception: Error initializing EmbeddedServer: . "
    "(BAD_ARGUMENTS)"
)


def test_chdb_target_with_database() -> None:
    target = parse_target(load_settings(clickhouse_dsn="chdb:///var/lib/mw/ch?database=t_1"))
    assert target.embedded and target.path == Path("/var/lib/mw/ch")
    assert target.database == "t_1"
    assert target.display == "chdb:///var/lib/mw/ch (database t_1)"


def test_default_dsn_is_the_data_dir(tmp_path: Path) -> None:
    target = parse_target(load_settings(clickhouse_dsn=None, data_dir=tmp_path))
    assert target.path == (tmp_path / "clickhouse").resolve() and target.database is None


@pytest.mark.parametrize(
    ("dsn", "message"),
    [
        ("chdb://relative/dir", "three slashes"),
        ("chdb:///d?database=bad-name", "database must be"),
        ("chdb:///d?db=x", "unknown chdb option"),
    ],
)
def test_bad_chdb_dsn_names_the_variable(dsn: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"MEGAWATCH_CLICKHOUSE_DSN: .*{message}"):
        parse_target(load_settings(clickhouse_dsn=dsn))


def test_server_target_keeps_password_out_of_display() -> None:
    target = parse_target(load_settings(clickhouse_dsn="https://mw:s3cr%21t@ch.example:8443/mw"))
    assert not target.embedded
    assert "s3cr" not in target.display and "ch.example:8443" in target.display
    assert target.secrets == ("s3cr!t",)


def test_password_setting_used_when_url_has_none() -> None:
    settings = load_settings(clickhouse_dsn="http://mw@ch:8123/mw", clickhouse_password="pw-1")
    target = parse_target(settings)
    assert target.password == "pw-1" and target.secrets == ("pw-1",)
    assert "pw-1" not in repr(target)


def test_repr_never_shows_the_url_password() -> None:
    target = parse_target(load_settings(clickhouse_dsn="http://mw:hunter2@ch:8123/mw"))
    assert "hunter2" not in repr(target) and "ch:8123" in repr(target)


def test_one_line_drops_version_trailer_repeats_and_secrets() -> None:
    exc = RuntimeError(
        "Code: 60. DB::Exception: Code: 60. DB::Exception: Unknown table\n"
        "'x' for user mw:hunter2. (UNKNOWN_TABLE) (version 26.9.2.1 (official build))"
    )
    assert one_line(exc, ("hunter2",)) == (
        "Code: 60. DB::Exception: Unknown table 'x' for user mw:***. (UNKNOWN_TABLE)"
    )
    assert len(one_line(RuntimeError("x" * 5000))) == 400


def _hold_lock(data_dir: Path, pid: int) -> int:
    """Write a status file as the engine does and flock it from a separate descriptor."""
    status = data_dir / "status"
    status.write_text(f"PID: {pid}\nStarted at: 2026-11-26 02:24:42\nRevision: 54515\n")
    fd = os.open(status, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def _started(argv: list[str]) -> subprocess.Popen[bytes]:
    """A child whose exec is done (until then /proc shows the forking parent's command)."""
    child = subprocess.Popen(argv)
    deadline = time.monotonic() + 10
    cmdline = Path(f"/proc/{child.pid}/cmdline")
    while cmdline.read_bytes().split(b"\0")[0] != argv[0].encode():
        assert time.monotonic() < deadline, "child did not start"
        time.sleep(0.01)
    return child


def test_locked_directory_names_holder_pid_and_command(tmp_path: Path) -> None:
    sleeper = _started(["sleep", "30"])
    fd = _hold_lock(tmp_path, sleeper.pid)
    try:
        error = diagnose_open_failure(tmp_path, ENGINE_ERROR, stderr_text="")
    finally:
        os.close(fd)
        sleeper.kill()
        sleeper.wait()
    assert isinstance(error, StoreInUseError)
    message = str(error)
    assert "\n" not in message
    assert f"chDB store {tmp_path} is in use by pid {sleeper.pid} (sleep 30)" in message
    assert "stop that process" in message and "MEGAWATCH_CLICKHOUSE_DSN" in message


def test_lock_error_on_stderr_is_enough(tmp_path: Path) -> None:
    (tmp_path / "status").write_text("PID: 4242\n")
    stderr = f"Code: 76. DB::Exception: Cannot lock file {tmp_path}/status. Another server..."
    error = diagnose_open_failure(tmp_path, ENGINE_ERROR, stderr)
    assert isinstance(error, StoreInUseError) and "pid 4242" in str(error)
    assert holder_pid(tmp_path) == 4242


def test_second_path_in_one_process() -> None:
    exc = RuntimeError(
        "Code: 36. DB::Exception: EmbeddedServer already initialized with path "
        "'/data/a', cannot connect with different path '/data/b'. (BAD_ARGUMENTS)"
    )
    error = diagnose_open_failure(Path("/data/b"), exc, "")
    assert isinstance(error, StoreInUseError)
    assert "chDB store /data/b cannot be opened" in str(error)
    assert "already has the chDB store /data/a open" in str(error)


def test_other_failures_stay_plain_store_errors(tmp_path: Path) -> None:
    stderr = "some noise\nCode: 243. DB::Exception: Cannot reserve 1.00 MiB, not enough space.\n"
    error = diagnose_open_failure(tmp_path, ENGINE_ERROR, stderr)
    assert type(error) is StoreError
    assert str(error) == (
        f"cannot open the chDB store {tmp_path}: Code: 243. DB::Exception: "
        "Cannot reserve 1.00 MiB, not enough space."
    )
