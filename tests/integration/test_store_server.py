"""The store server: several processes on one embedded store, its lock on the door, and
what happens when it dies.

Every test talks to a real server (``python -m pipeline.store.server``) over real HTTP.
"""

from __future__ import annotations

import base64
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pipeline.errors import StoreError
from pipeline.settings import Settings, load_settings
from pipeline.store import Store, open_store, owner
from pipeline.store import server_files as files

pytestmark = pytest.mark.integration

WRITER = """
import sys
from datetime import datetime, timezone
from pipeline.settings import load_settings
from pipeline.store import open_store
first, count = int(sys.argv[1]), int(sys.argv[2])
with open_store(load_settings()) as store:
    for batch in range(first, first + count, 100):
        offsets = list(range(batch, batch + 100))
        ts = [datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)] * 100
        store.insert_columns(
            "rack_power", ["site", "rack", "ts", "power_w", "kafka_partition", "kafka_offset"],
            [["ams-1"] * 100, [f"r{o}" for o in offsets], ts, [1.0] * 100, [0] * 100, offsets],
            dedup_token=f"rack_power:0:{batch}",
        )
"""


@pytest.fixture
def own_dir(tmp_path: Path) -> Iterator[Settings]:
    """Settings on a chDB directory of this test alone (its server stopped afterwards)."""
    path = tmp_path / "store"
    yield load_settings(clickhouse_dsn=f"chdb://{path}", data_dir=tmp_path / "data")
    owner.stop(path)


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEGAWATCH_")}
    return {**env, "MEGAWATCH_CLICKHOUSE_DSN": settings.store_dsn}


def _now_ms() -> int:
    return int(time.time() * 1000)  # a row older than the retention would be dropped


def _server(settings: Settings) -> files.ServerInfo:
    path = Path(settings.store_dsn.removeprefix("chdb://"))
    info = owner.discover(path)
    assert info is not None
    return info


def test_three_processes_write_one_embedded_store(own_dir: Settings, tmp_path: Path) -> None:
    with open_store(own_dir) as store:
        store.migrate()
        writers = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, str(first), "1000"],
                env=_env(own_dir),
                cwd=tmp_path,
                stderr=subprocess.PIPE,
                text=True,
            )
            for first in (0, 1000, 2000)
        ]
        for writer in writers:
            _, err = writer.communicate(timeout=180)
            assert writer.returncode == 0, err
        rows = store.query_rows("SELECT count(), uniqExact(kafka_offset) FROM rack_power")
    assert rows == [(3000, 3000)]


def test_the_token_file_is_the_users_alone(own_dir: Settings) -> None:
    with open_store(own_dir) as store:
        path = store.data_dir
        assert path is not None
        mode = stat.S_IMODE((path / files.TOKEN_FILE).stat().st_mode)
        assert mode == 0o600
        assert stat.S_IMODE((path / files.DISCOVERY_FILE).stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-token"),
        pytest.param({"Authorization": "Basic bWVnYXdhdGNoOndyb25n"}, id="wrong-token"),
        pytest.param(
            {"Origin": "http://evil.example", "Content-Type": "text/plain"},
            id="cross-origin-text-plain",
        ),
        pytest.param({"Origin": "http://evil.example", "token": "right"}, id="origin-with-token"),
        pytest.param({"Host": "evil.example", "token": "right"}, id="rebound-host"),
    ],
)
def test_requests_without_the_token_or_from_a_browser_are_refused(
    own_dir: Settings, headers: dict[str, str]
) -> None:
    with open_store(own_dir) as store:
        store.command("CREATE TABLE victim (x UInt8) ENGINE = Memory")
        info = _server(own_dir)
        assert store.data_dir is not None
        sent = dict(headers)
        if sent.pop("token", None):
            token = files.read_token(store.data_dir)
            sent["Authorization"] = (
                "Basic " + base64.b64encode(f"{files.USER}:{token}".encode()).decode()
            )
        response = httpx.post(info.url + "/", content=b"DROP TABLE victim", headers=sent)
        assert response.status_code in (401, 403)
        assert response.headers["X-ClickHouse-Exception-Code"] == "516"
        assert store.query_rows("EXISTS TABLE victim") == [(1,)]  # nothing ran


def test_a_refused_statement_changes_nothing_for_the_next_insert(store: Store) -> None:
    """Issue 10 item 3: an INSERT refused by read-only mode used to leave the chDB
    connection read-only, so every later insert failed (Code: 164 READONLY)."""
    with pytest.raises(StoreError, match=r"READONLY|readonly"):
        store.query_df("INSERT INTO rack_power (site) VALUES ('x')", read_only=True)
    names = ["site", "rack", "ts", "power_w", "kafka_partition", "kafka_offset"]
    store.insert_columns("rack_power", names, [["a"], ["r"], [_now_ms()], [1.0], [0], [1]])
    assert store.query_rows("SELECT count() FROM rack_power") == [(1,)]


def test_a_long_read_does_not_hold_inserts(store: Store) -> None:
    """Reads and inserts run on separate engine handles: an insert completes while a
    slow query is still running (ordering, not speed, is asserted)."""
    slow = threading.Thread(
        target=store.query_rows,
        args=("SELECT sleepEachRow(1) FROM system.numbers LIMIT 4 SETTINGS max_block_size=1",),
    )
    slow.start()
    try:
        time.sleep(0.3)
        names = ["site", "rack", "ts", "power_w", "kafka_partition", "kafka_offset"]
        store.insert_columns("rack_power", names, [["a"], ["r"], [_now_ms()], [1.0], [0], [7]])
        assert slow.is_alive()  # the insert did not wait for the 4 s query
    finally:
        slow.join()


def test_sigkill_of_the_server_one_line_then_a_new_server(own_dir: Settings) -> None:
    with open_store(own_dir) as store:
        store.migrate()
        first = _server(own_dir)
        os.kill(first.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while files.pid_alive(first.pid) and time.monotonic() < deadline:
            owner._reap(first.pid)
            time.sleep(0.05)
        with pytest.raises(StoreError) as caught:
            store.query_rows("SELECT count() FROM rack_power")
        message = str(caught.value)
        assert "\n" not in message and "store server stopped answering" in message
        # the next call starts a new server: the engine's lock was not left behind
        assert store.query_rows("SELECT count() FROM rack_power") == [(0,)]
        second = _server(own_dir)
    assert second.pid != first.pid and second.instance != first.instance


def test_the_server_stops_when_its_last_client_is_gone(tmp_path: Path) -> None:
    settings = load_settings(clickhouse_dsn=f"chdb://{tmp_path / 'store'}", store_idle_exit_s=0.5)
    client = subprocess.run(  # a command that creates the store (reads never do)
        [sys.executable, "-m", "pipeline", "db", "migrate"],
        env={**_env(settings), "MEGAWATCH_STORE_IDLE_EXIT_S": "0.5"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert client.returncode == 0, client.stderr
    info = files.read_discovery(tmp_path / "store")
    assert info is not None
    deadline = time.monotonic() + 30
    while files.pid_alive(info.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not files.pid_alive(info.pid)
    assert files.read_discovery(tmp_path / "store") is None  # it cleaned up


HOLDER = """
import sys, time, chdb
connection = chdb.connect(sys.argv[1])
connection.query("SELECT 1")
print("holding", flush=True)
time.sleep(120)
"""


def test_a_directory_held_by_another_program_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "held"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
        with pytest.raises(StoreError) as caught:
            open_store(load_settings(clickhouse_dsn=f"chdb://{path}"))
        message = str(caught.value)
        assert "\n" not in message
        assert f"chDB store {path} is in use by pid {holder.pid} (" in message
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("compress", ["gzip", "lz4", "zstd"])
def test_a_compressed_insert_and_read_work_like_on_a_server(
    own_dir: Settings, compress: str
) -> None:
    """clickhouse-connect compresses inserts when asked (a remote ClickHouse): the same
    client options must work on the store server (aiohttp decodes the body already; a
    second gunzip failed every such insert with HTTP 500)."""
    import clickhouse_connect

    with open_store(own_dir) as store:
        store.command("CREATE TABLE packed (x UInt32, s String) ENGINE = Memory")
        info = _server(own_dir)
        assert store.data_dir is not None
        client = clickhouse_connect.get_client(
            host=files.HOST,
            port=info.port,
            username=files.USER,
            password=files.read_token(store.data_dir),
            compress=compress,
        )
        try:
            client.insert("packed", [[i, f"s{i}"] for i in range(1000)], ["x", "s"])
            assert client.query("SELECT count(), sum(x) FROM packed").result_rows == [
                (1000, 499500)
            ]
        finally:
            client.close()
