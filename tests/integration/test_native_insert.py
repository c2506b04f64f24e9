"""Inserts through the Native encoder into the real raw tables of a real store (the chDB
store server over HTTP): the rows read back equal the rows sent, a retried insert with
the same token is stored once, a column the encoder leaves alone (datetimes) goes
through clickhouse-connect's own insert, and a value that does not fit fails with the
StoreError message it had before the encoder."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from pipeline.errors import StoreError
from pipeline.store import Store
from pipeline.store import client as store_client
from pipeline.store.columns import Chunked
from pipeline.store.migrations import load_migrations
from pipeline.store.native import encode_block

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

# Recent: the tables' TTL drops rows older than 90 days as they are inserted.
T0_MS = int(time.time()) // 60 * 60_000 + 123
LONG = "ü" * 100 + "-rack"  # 205 bytes: a two-byte length
HUGE = "é" * 9_000  # 18,000 bytes: past the encoder's table of short lengths
U64_MAX = 2**64 - 1


@pytest.fixture
def native_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The tables inserted through the Native encoder (the real send, counted)."""
    calls: list[str] = []
    send = store_client.insert_native

    def counted(client: Any, table: str, *args: Any) -> None:
        calls.append(table)
        send(client, table, *args)

    monkeypatch.setattr(store_client, "insert_native", counted)
    yield calls


def gpu_rows(n: int) -> dict[str, list[Any]]:
    return {
        "site": [("hx-3", "湖南-1", LONG)[i % 3] for i in range(n)],
        "rack": [f"r{i % 7:02d}" for i in range(n)],
        "host": [f"h{i % 5}" for i in range(n)],
        "gpu": [str(i % 8) for i in range(n)],
        "ts": [T0_MS + i for i in range(n)],
        "util_pct": [(0.0, 87.5, 100.0)[i % 3] for i in range(n)],
        "power_w": [412.25 + i for i in range(n)],
        "vendor": ["nvidia" if i % 2 else "" for i in range(n)],
        "model": ["" for _ in range(n)],
        "mem_used_pct": [None if i % 4 == 0 else 50.5 for i in range(n)],
        "temp_c": [61.0 for _ in range(n)],
        "power_limit_w": [None for _ in range(n)],  # all None
        "kafka_partition": [(0, 65_535)[i % 2] for i in range(n)],
        "kafka_offset": [(0, U64_MAX, 12)[i % 3] for i in range(n)],
        "kafka_cluster": ["cluster-a" for _ in range(n)],
    }


def link_rows(n: int) -> dict[str, list[Any]]:
    return {
        "site": ["hx-3"] * n,
        "link": [f"l{i}" for i in range(n)],
        "link_class": ["fabric" if i % 2 else "wan" for i in range(n)],
        "peer_site": ["" if i % 2 else "remote" for i in range(n)],
        "ts": [T0_MS + i for i in range(n)],
        "tx_packets": [U64_MAX - i for i in range(n)],
        "rx_packets": [i for i in range(n)],
        "dropped_packets": [0] * n,
        "error_packets": [None if i % 2 else U64_MAX for i in range(n)],
        "d_tx": [i for i in range(n)],
        "d_rx": [i for i in range(n)],
        "d_dropped": [0] * n,
        "baseline": [i % 2 for i in range(n)],
        "reset": [255 if i == 1 else 0 for i in range(n)],
        "loss_ratio": [None if i % 3 == 0 else 0.125 for i in range(n)],
        "kafka_partition": [1] * n,
        "kafka_offset": [i for i in range(n)],
    }


def alert_rows(n: int) -> dict[str, list[Any]]:
    return {
        "fingerprint": [f"fp-{i}" for i in range(n)],
        "seq": [(0, 2**32 - 1)[i % 2] for i in range(n)],
        "rule": ["site_cap"] * n,
        "severity": ["critical"] * n,
        "status": ["firing" if i % 2 else "resolved" for i in range(n)],
        "site": ["hx-3"] * n,
        "value": [1.0e9 + i for i in range(n)],
        "threshold": [-0.5] * n,
        "starts_at": [T0_MS - i for i in range(n)],
        "ends_at": [None if i % 2 else T0_MS + 1000 for i in range(n)],
        "summary": [HUGE if i == 0 else f"cap {i} 🔥" for i in range(n)],
        "test": [0] * n,
        "kafka_partition": [0] * n,
        "kafka_offset": [i for i in range(n)],
    }


def dead_letter_rows(n: int) -> dict[str, list[Any]]:
    return {
        "received_at": [T0_MS] * n,
        "topic": ["telemetry.gpu"] * n,
        "partition": [3] * n,
        "offset": [U64_MAX - i for i in range(n)],
        "index": [(-(2**31), -1, 0, 2**31 - 1)[i % 4] for i in range(n)],
        "reason_code": ["invalid"] * n,
        "reason": ["" if i % 2 else LONG for i in range(n)],
        "key": [""] * n,
        "raw": [HUGE + str(i) for i in range(n)],
        "raw_encoding": ["utf-8"] * n,
    }


TABLES: dict[str, tuple[Callable[[int], dict[str, list[Any]]], str]] = {
    "gpu_samples": (gpu_rows, "kafka_offset, ts, site, power_w"),
    "link_samples": (link_rows, "link"),
    "alerts": (alert_rows, "fingerprint"),
    "dead_letters": (dead_letter_rows, "`offset`"),
}


def insert(store: Store, table: str, rows: dict[str, list[Any]], token: str | None = None) -> None:
    store.insert_columns(table, list(rows), list(rows.values()), token)


def read_back(store: Store, table: str, names: list[str], order: str) -> list[tuple[Any, ...]]:
    quoted = ", ".join(f"`{name}`" for name in names)
    rows = store.query_rows(f"SELECT {quoted} FROM {table} ORDER BY {order}")
    return [tuple(_epoch_ms(v) if isinstance(v, datetime) else v for v in row) for row in rows]


def _epoch_ms(value: datetime) -> int:
    return round(value.timestamp() * 1000)


@pytest.mark.parametrize("table", list(TABLES))
def test_rows_read_back_equal(store: Store, native_calls: list[str], table: str) -> None:
    make, order = TABLES[table]
    rows = make(300)
    insert(store, table, rows, token=f"{table}-1")
    assert native_calls == [table]
    got = read_back(store, table, list(rows), order)
    sent = [tuple(values) for values in zip(*rows.values(), strict=True)]
    assert sorted(got, key=repr) == sorted(sent, key=repr)


def test_a_retry_with_the_same_token_is_stored_once(store: Store, native_calls: list[str]) -> None:
    rows = gpu_rows(50)
    insert(store, "gpu_samples", rows, token="p0:0-49")
    insert(store, "gpu_samples", rows, token="p0:0-49")
    insert(store, "gpu_samples", rows, token="p0:50-99")
    assert len(native_calls) == 3
    assert store.query_rows("SELECT count() FROM gpu_samples")[0][0] == 100


@pytest.mark.parametrize("encoder", [True, False])
def test_columns_in_pieces_store_the_rows_of_the_joined_columns(
    store: Store, monkeypatch: pytest.MonkeyPatch, encoder: bool
) -> None:
    """What the worker's sink hands over: each column as the pieces of the messages it
    gathered, written as they are by the encoder, and joined for clickhouse-connect."""
    rows = gpu_rows(300)
    if not encoder:
        monkeypatch.setattr(store_client, "encode_block", lambda *_: None)
    cuts = (0, 1, 100, 100, 217, 300)  # one row, an empty piece, uneven sizes
    pieces = [Chunked([values[a:b] for a, b in pairwise(cuts)]) for values in rows.values()]
    store.insert_columns("gpu_samples", list(rows), pieces)
    order = "site, rack, host, gpu, ts"
    got = read_back(store, "gpu_samples", list(rows), order)
    sent = [tuple(values) for values in zip(*rows.values(), strict=True)]
    assert sorted(got, key=repr) == sorted(sent, key=repr) and len(got) == 300


def test_datetime_columns_go_through_clickhouse_connect(
    store: Store, native_calls: list[str]
) -> None:
    rows = gpu_rows(20)
    rows["ts"] = [datetime.fromtimestamp(ms / 1000, UTC) for ms in rows["ts"]]
    insert(store, "gpu_samples", rows)
    assert native_calls == []  # the fallback
    got = read_back(store, "gpu_samples", ["ts", "site", "mem_used_pct"], "ts")
    want = [
        (_epoch_ms(ts), site, mem)
        for ts, site, mem in zip(rows["ts"], rows["site"], rows["mem_used_pct"], strict=True)
    ]
    assert got == sorted(want)


@pytest.mark.parametrize(
    ("column", "value"),
    [("kafka_partition", 70_000), ("kafka_offset", -1), ("power_w", None), ("site", 7)],
)
def test_a_value_that_does_not_fit_fails_as_before(
    store: Store, monkeypatch: pytest.MonkeyPatch, column: str, value: Any
) -> None:
    rows = gpu_rows(10)
    rows[column][5] = value
    with pytest.raises(StoreError) as now:
        insert(store, "gpu_samples", rows)
    # the message before the encoder: the same insert with the encoder switched off
    monkeypatch.setattr(store_client, "encode_block", lambda *_: None)
    with pytest.raises(StoreError) as before:
        insert(store, "gpu_samples", rows)
    assert str(now.value) == str(before.value)
    assert str(now.value).startswith("insert into gpu_samples failed on chdb://")
    assert "\n" not in str(now.value)
    assert store.query_rows("SELECT count() FROM gpu_samples")[0][0] == 0


def test_an_empty_batch_inserts_nothing(store: Store, native_calls: list[str]) -> None:
    rows = {name: [] for name in gpu_rows(1)}
    insert(store, "gpu_samples", rows)
    assert native_calls == []
    assert store.query_rows("SELECT count() FROM gpu_samples")[0][0] == 0


CH248_PYTHON = ROOT / ".venv-ch248" / "bin" / "python"


@pytest.mark.skipif(
    not CH248_PYTHON.exists(), reason="needs .venv-ch248 with chdb==2.1.1 (make test-deps)"
)
def test_clickhouse_24_8_reads_the_same_rows(tmp_path: Path) -> None:
    """The oldest supported server's engine (chDB 2.1.1 = ClickHouse 24.8, run by the
    compat suite's runner) reads an encoded block of every raw-table type back as sent."""
    rows = gpu_rows(40)
    types = [GPU_TYPES[name] for name in rows]
    block = encode_block(list(rows), types, list(rows.values()))
    assert block is not None
    (tmp_path / "gpu.native").write_bytes(block)
    names = ", ".join(rows)
    selected = ", ".join("toUnixTimestamp64Milli(ts)" if n == "ts" else n for n in rows)
    job = {
        "migrations": [
            [f"{m.filename}#{i}", sql]
            for m in load_migrations()
            for i, sql in enumerate(m.statements(), start=1)
        ],
        "inserts": [
            [
                "native block",
                f"INSERT INTO gpu_samples ({names}) "
                f"SELECT * FROM file('{tmp_path / 'gpu.native'}', 'Native')",
            ]
        ],
        "counts": [
            [
                "rows",
                f"SELECT {selected} FROM gpu_samples ORDER BY kafka_offset, ts "
                "SETTINGS output_format_json_quote_64bit_integers = 0",
            ]
        ],
        "queries": [],
    }
    done = subprocess.run(
        [str(CH248_PYTHON), str(ROOT / "tests" / "compat" / "clickhouse_248_runner.py")],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["version"].startswith("24.8.")
    assert result["migrations"] == [] and result["inserts"] == []
    got = [tuple(row) for row in json.loads(result["counts"]["rows"])["data"]]
    sent = [tuple(values) for values in zip(*rows.values(), strict=True)]
    assert got == sorted(sent, key=lambda row: (row[13], row[4]))


GPU_TYPES = {
    **dict.fromkeys(["site", "rack", "host", "gpu", "vendor", "model"], "LowCardinality(String)"),
    "kafka_cluster": "LowCardinality(String)",
    "ts": "DateTime64(3, 'UTC')",
    "util_pct": "Float32",
    "power_w": "Float32",
    "mem_used_pct": "Nullable(Float32)",
    "temp_c": "Nullable(Float32)",
    "power_limit_w": "Nullable(Float32)",
    "kafka_partition": "UInt16",
    "kafka_offset": "UInt64",
}
