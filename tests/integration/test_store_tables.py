"""Every table of the store spec on the real chDB engine: rows in, the same rows out, and
the per-minute rollups computed by their materialized views match sums made by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipeline.errors import StoreError
from pipeline.store import Store

pytestmark = pytest.mark.integration

MINUTE = datetime(2026, 11, 20, 10, 15, tzinfo=UTC)  # start of a minute
T0 = MINUTE + timedelta(seconds=1, milliseconds=250)


def insert_rows(
    store: Store, table: str, rows: list[dict[str, Any]], token: str | None = None
) -> None:
    names = list(rows[0])
    store.insert_columns(table, names, [[row[n] for row in rows] for n in names], token)


def read_back(store: Store, table: str, columns: list[str], order: str) -> list[dict[str, Any]]:
    names = ", ".join(f"`{c}`" for c in columns)
    rows = store.query_rows(f"SELECT {names} FROM {table} ORDER BY {order}")
    return [dict(zip(columns, row, strict=True)) for row in rows]


ROWS: dict[str, tuple[str, list[dict[str, Any]]]] = {
    "rack_power": (
        "ts",
        [
            {
                "site": "ams-1",
                "rack": "r01",
                "ts": T0,
                "power_w": 12500.5,
                "pdu": "pdu-a",
                "source": "sim",
                "kafka_partition": 3,
                "kafka_offset": 1234567890123,
            },
        ],
    ),
    "gpu_samples": (
        "ts",
        [
            {
                "site": "ams-1",
                "rack": "r01",
                "host": "h1",
                "gpu": "0",
                "ts": T0,
                "util_pct": 87.5,
                "power_w": 412.25,
                "vendor": "nvidia",
                "model": "H100",
                "mem_used_pct": 50.0,
                "temp_c": None,
                "power_limit_w": 700.0,
                "kafka_partition": 1,
                "kafka_offset": 7,
            },
        ],
    ),
    "link_samples": (
        "ts",
        [
            {
                "site": "ams-1",
                "link": "wan-fra",
                "link_class": "wan",
                "peer_site": "fra-2",
                "ts": T0,
                "tx_packets": 2**40,
                "rx_packets": 2**40 - 5,
                "dropped_packets": 5,
                "error_packets": None,
                "d_tx": 1000,
                "d_rx": 995,
                "d_dropped": 5,
                "baseline": 0,
                "reset": 0,
                "loss_ratio": 0.005,
                "kafka_partition": 0,
                "kafka_offset": 99,
            },
        ],
    ),
    "site_power": (
        "ts",
        [
            {
                "site": "ams-1",
                "ts": T0,
                "total_w": 4.2e6,
                "cap_w": 5e6,
                "warn_w": 4.5e6,
                "headroom_w": 8e5,
                "racks": 320,
                "stale_racks": 2,
                "warming": 0,
                "region": "eu-west",
            },
        ],
    ),
    "alerts": (
        "seq",
        [
            {
                "fingerprint": "f" * 32,
                "seq": 4,
                "rule": "site_power_cap",
                "severity": "critical",
                "status": "resolved",
                "site": "ams-1",
                "link": "",
                "peer_site": "",
                "rack": "",
                "domain": "hall-1",  # migration 007
                "value": 5.1e6,
                "threshold": 5e6,
                "starts_at": T0,
                "ends_at": T0 + timedelta(minutes=3),
                "forecast_at": None,
                "summary": "ams-1 over its cap",
                "test": 0,
                "kafka_partition": 2,
                "kafka_offset": 11,
            },
        ],
    ),
    "alert_deliveries": (
        "at",
        [
            {
                "at": T0,
                "fingerprint": "f" * 32,
                "seq": 4,
                "status": "firing",
                "rule": "site_power_cap",
                "site": "ams-1",
                "receiver": "ops-hook",
                "receiver_kind": "webhook",
                "attempt": 2,
                "outcome": "retry",
                "http_status": 503,
                "latency_ms": 12.5,
                "error": "HTTP 503 from receiver",
            },
        ],
    ),
    "dead_letters": (
        "received_at",
        [
            {
                "received_at": T0,
                "topic": "telemetry.gpu",
                "partition": 5,
                "offset": 77,
                "index": -1,
                "reason_code": "not_json",
                "reason": "message is not JSON",
                "key": "ams-1",
                "raw": "\x00\xffnot json",
                "raw_encoding": "utf-8",
            },
        ],
    ),
    "ingest_offsets": (
        "max_offset",
        [
            {
                "at": T0,
                "cluster_id": "c1",
                "tbl": "rack_power",
                "topic": "telemetry.rack_power",
                "partition": 3,
                "max_offset": 1234567890123,
            },
        ],
    ),
}


@pytest.mark.parametrize("table", sorted(ROWS))
def test_each_table_round_trips_a_row(store: Store, table: str) -> None:
    order, rows = ROWS[table]
    insert_rows(store, table, rows)
    assert read_back(store, table, list(rows[0]), order) == rows


def test_ingested_at_defaults_to_now_in_utc(store: Store) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    insert_rows(store, "rack_power", ROWS["rack_power"][1])
    (ingested,) = store.query_rows("SELECT ingested_at FROM rack_power")[0]
    assert ingested.tzinfo is not None and ingested.utcoffset() == timedelta(0)
    assert before <= ingested <= datetime.now(UTC) + timedelta(seconds=1)


def _at(seconds: float) -> datetime:
    return MINUTE + timedelta(seconds=seconds)


def test_rack_power_rollup(store: Store) -> None:
    base = {"site": "ams-1", "rack": "r01", "kafka_partition": 0}
    insert_rows(
        store,
        "rack_power",
        [
            {**base, "ts": _at(1), "power_w": 1000.0, "kafka_offset": 1},
            {**base, "ts": _at(20), "power_w": 1500.0, "kafka_offset": 2},
        ],
    )
    insert_rows(
        store,
        "rack_power",
        [  # a second insert: a second part to merge on read
            {**base, "ts": _at(59.999), "power_w": 1250.0, "kafka_offset": 3},
            {**base, "ts": _at(60), "power_w": 900.0, "kafka_offset": 4},
        ],
    )
    rows = store.query_rows(
        "SELECT minute, sum(samples), sum(sum_w), max(max_w), min(min_w) FROM rack_power_1m "
        "WHERE site = {site:String} GROUP BY site, rack, minute ORDER BY minute",
        {"site": "ams-1"},
    )
    assert rows == [
        (MINUTE, 3, 3750.0, 1500.0, 1000.0),
        (MINUTE + timedelta(minutes=1), 1, 900.0, 900.0, 900.0),
    ]


def test_site_power_rollup(store: Store) -> None:
    base = {"site": "ams-1", "racks": 10, "stale_racks": 0, "warming": 0, "region": "eu"}
    samples = [  # (second, total_w, cap_w, warn_w, headroom_w)
        (0, 900.0, 1000.0, 900.0, 100.0),
        (15, 800.0, None, None, None),
        (30, 950.0, 1000.0, 900.0, 50.0),
        (45, 1250.0, 1200.0, 1080.0, -50.0),
        (59, 1000.0, 1200.0, 1080.0, 200.0),  # the last sample: its cap is "the" cap
    ]
    insert_rows(
        store,
        "site_power",
        [
            {**base, "ts": _at(s), "total_w": t, "cap_w": c, "warn_w": w, "headroom_w": h}
            for s, t, c, w, h in samples
        ],
    )
    rows = store.query_rows(
        "SELECT sum(samples), sum(sum_w), max(max_w), min(min_headroom_w), argMaxMerge(cap_w), "
        "sum(above_warn), sum(above_cap) FROM site_power_1m GROUP BY site, region, minute"
    )
    # above_warn: 900>=900, 950>=900, 1250>=1080; above_cap: 1250>=1200 only
    assert rows == [(5, 4900.0, 1250.0, -50.0, 1200.0, 3, 1)]


def test_gpu_rollup(store: Store) -> None:
    base = {
        "site": "ams-1",
        "rack": "r01",
        "vendor": "nvidia",
        "model": "H100",
        "kafka_partition": 0,
        "kafka_offset": 0,
    }
    samples = [
        ("h1", "0", 50.0, 300.0),
        ("h1", "1", 2.0, 80.0),
        ("h2", "0", 100.0, 400.0),
        ("h1", "0", 4.5, 90.0),
    ]  # h1/0 twice: three distinct GPUs
    insert_rows(
        store,
        "gpu_samples",
        [
            {**base, "host": h, "gpu": g, "ts": _at(i), "util_pct": u, "power_w": p}
            for i, (h, g, u, p) in enumerate(samples)
        ],
    )
    rows = store.query_rows(
        "SELECT sum(samples), sum(sum_util), max(max_util), sum(sum_power_w), sum(idle_samples), "
        "sum(idle_sum_power_w), uniqMerge(gpus) FROM gpu_1m "
        "GROUP BY site, rack, vendor, model, minute"
    )
    assert rows == [(4, 156.5, 100.0, 870.0, 2, 170.0, 3)]


def test_link_rollup(store: Store) -> None:
    base = {
        "site": "ams-1",
        "link": "wan-fra",
        "link_class": "wan",
        "peer_site": "fra-2",
        "tx_packets": 0,
        "rx_packets": 0,
        "dropped_packets": 0,
        "kafka_partition": 0,
        "kafka_offset": 0,
    }
    samples = [  # d_tx, d_rx, d_dropped, baseline, reset, loss_ratio
        (0, 0, 0, 1, 0, None),
        (1000, 990, 10, 0, 0, 0.01),
        (0, 0, 0, 1, 1, None),
        (500, 500, 0, 0, 0, 0.005),
    ]
    insert_rows(
        store,
        "link_samples",
        [
            {
                **base,
                "ts": _at(i * 10),
                "d_tx": tx,
                "d_rx": rx,
                "d_dropped": dr,
                "baseline": b,
                "reset": r,
                "loss_ratio": lr,
            }
            for i, (tx, rx, dr, b, r, lr) in enumerate(samples)
        ],
    )
    rows = store.query_rows(
        "SELECT sum(samples), sum(d_tx), sum(d_rx), sum(d_dropped), sum(resets), "
        "max(max_loss_ratio) FROM link_1m GROUP BY site, link, link_class, peer_site, minute"
    )
    assert rows == [(4, 1500, 1490, 10, 1, 0.01)]


def _rack_batch(offset: int) -> list[dict[str, Any]]:
    return [
        {
            "site": "ams-1",
            "rack": f"r{i}",
            "ts": T0,
            "power_w": 100.0 * i,
            "kafka_partition": 0,
            "kafka_offset": offset + i,
        }
        for i in range(3)
    ]


def test_retried_insert_with_same_token_is_dropped_rollups_included(store: Store) -> None:
    insert_rows(store, "rack_power", _rack_batch(100), token="rack_power:0:100-102")
    insert_rows(store, "rack_power", _rack_batch(100), token="rack_power:0:100-102")
    insert_rows(store, "rack_power", _rack_batch(200), token="rack_power:0:200-202")
    assert store.query_rows("SELECT count() FROM rack_power")[0][0] == 6
    assert store.query_rows("SELECT sum(samples) FROM rack_power_1m")[0][0] == 6


def test_same_rows_with_a_new_token_are_kept(store: Store) -> None:
    insert_rows(store, "rack_power", _rack_batch(100), token="a")
    insert_rows(store, "rack_power", _rack_batch(100), token="b")
    assert store.query_rows("SELECT count() FROM rack_power")[0][0] == 6
    assert store.query_rows("SELECT sum(samples) FROM rack_power_1m")[0][0] == 6


def test_alerts_final_keeps_the_latest_offset(store: Store) -> None:
    firing = {**ROWS["alerts"][1][0], "status": "firing", "ends_at": None, "kafka_offset": 5}
    resolved = {
        **firing,
        "status": "resolved",
        "ends_at": T0 + timedelta(minutes=3),
        "kafka_offset": 9,
    }
    insert_rows(store, "alerts", [firing], token="alerts:2:5")
    insert_rows(store, "alerts", [resolved], token="alerts:2:9")
    insert_rows(store, "alerts", [firing], token="alerts:2:5-redelivered")
    assert store.query_rows("SELECT status, ends_at FROM alerts FINAL") == [
        ("resolved", T0 + timedelta(minutes=3))
    ]


def test_ingest_ledger_reads_the_max_offset(store: Store) -> None:
    row = ROWS["ingest_offsets"][1][0]
    insert_rows(store, "ingest_offsets", [{**row, "max_offset": 250}])
    insert_rows(store, "ingest_offsets", [{**row, "max_offset": 100}])
    assert store.query_rows(
        "SELECT tbl, `partition`, max(max_offset) FROM ingest_offsets "
        "WHERE cluster_id = {c:String} GROUP BY tbl, topic, `partition`",
        {"c": "c1"},
    ) == [("rack_power", 3, 250)]


def test_epoch_milliseconds_and_parameters(store: Store) -> None:
    ms = int(T0.timestamp() * 1000)
    row = {**ROWS["rack_power"][1][0], "ts": ms}
    insert_rows(store, "rack_power", [row])
    rows = store.query_rows(
        "SELECT ts FROM rack_power WHERE ts >= {since:DateTime64(3, 'UTC')} AND site = {s:String}",
        {"since": T0, "s": "ams-1"},
    )
    assert rows == [(T0,)]
    frame = store.query_df("SELECT ts, power_w FROM rack_power")
    assert str(frame["ts"].dtype) == "datetime64[ms, UTC]"
    assert frame["ts"].iloc[0].to_pydatetime() == T0


def test_naive_datetimes_are_refused(store: Store) -> None:
    row = {**ROWS["rack_power"][1][0], "ts": T0.replace(tzinfo=None)}
    with pytest.raises(StoreError, match="column ts holds naive datetimes"):
        insert_rows(store, "rack_power", [row])
    assert store.query_rows("SELECT count() FROM rack_power")[0][0] == 0


def test_clickhouse_errors_become_one_line_store_errors(store: Store) -> None:
    with pytest.raises(StoreError) as caught:
        store.query_rows("SELECT nope FROM rack_power")
    message = str(caught.value)
    assert "\n" not in message and "(version" not in message
    assert message.startswith(f"query failed on {store.display}: Code: 47.")
    with pytest.raises(StoreError, match="insert into no_such_table failed"):
        store.insert_columns("no_such_table", ["a"], [[1]])


def test_closed_store_says_so(store_settings: Any) -> None:
    from pipeline.store import open_store

    with open_store(store_settings) as store:
        pass
    with pytest.raises(StoreError, match="is closed"):
        store.query_rows("SELECT 1")


def test_values_that_do_not_fit_their_column_are_store_errors(store: Store) -> None:
    row = {**ROWS["rack_power"][1][0], "power_w": "lots"}
    with pytest.raises(StoreError, match=r"insert into rack_power failed on .*lots"):
        insert_rows(store, "rack_power", [row])
    with pytest.raises(StoreError, match=r"insert into rack_power: no column.* watts"):
        store.insert_columns("rack_power", ["site", "watts"], [["a"], [1.0]])


def test_insert_after_a_schema_change_through_migrate(store: Store, tmp_path: Any) -> None:
    from pipeline.store.migrations import load_migrations

    insert_rows(store, "dead_letters", ROWS["dead_letters"][1])  # caches the column types
    bundled = load_migrations()
    (tmp_path / "900_wider_index.sql").write_text(
        "ALTER TABLE dead_letters MODIFY COLUMN `index` Int64;\n"
    )
    store.migrate([*bundled, *load_migrations(tmp_path)])
    row = {**ROWS["dead_letters"][1][0], "index": 2**40}
    insert_rows(store, "dead_letters", [row])
    assert store.query_rows("SELECT max(`index`) FROM dead_letters") == [(2**40,)]
