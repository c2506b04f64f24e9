"""Inserts through the store server vs straight into chDB, in one run.

The worker's sink inserts column-oriented batches of up to MEGAWATCH_SINK_MAX_ROWS
(20k) rows with a deduplication token. This writes the same batches of ``rack_power``
rows (a) in-process through clickhouse-connect's chDB backend (what every process did
before the store server: the baseline) and (b) through the store server over loopback
HTTP (what every process does now), alternating rounds so that machine noise hits both,
and reports rows/s of each, ``ratio`` = server / direct, and the CPU seconds each path
costs (``cpu_ratio``: client + server process / direct; the direct engine's background
merges are not counted). Also: a small query's round trip both ways.

    python benchmarks/store_server.py --batches 20 --rows 20000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_output import add_smoke, result_path, smallest, write_json

from pipeline.settings import load_settings
from pipeline.store import Store, open_store, owner
from pipeline.store.connection import StoreTarget

COLUMNS = ["site", "rack", "ts", "power_w", "kafka_partition", "kafka_offset"]


def batch(first_offset: int, rows: int) -> list[list[Any]]:
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    offsets = range(first_offset, first_offset + rows)
    return [
        [f"site-{o % 8}" for o in offsets],
        [f"r{o % 500:03d}" for o in offsets],
        [now_ms - (rows - i) for i in range(rows)],
        [float(5000 + o % 3000) for o in offsets],
        [o % 8 for o in offsets],
        list(offsets),
    ]


def direct_store(path: Path) -> Store:
    """The baseline: clickhouse-connect's chDB backend in this process."""
    import clickhouse_connect

    path.mkdir(parents=True)
    client = clickhouse_connect.get_client(dsn=f"chdb://{path}", tz_mode="aware")
    settings = load_settings(clickhouse_dsn=f"chdb://{path}")
    return Store(client, StoreTarget(dsn=f"chdb://{path}", display=f"direct {path}"), settings)


def insert_round(store: Store, data: list[list[Any]], token: str) -> float:
    started = time.perf_counter()
    store.insert_columns("rack_power", COLUMNS, data, dedup_token=token)
    return time.perf_counter() - started


def query_round_trip(store: Store, repeats: int = 50) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        store.query_rows("SELECT count() FROM rack_power WHERE site = {s:String}", {"s": "site-1"})
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(batches: int, rows: int, work: Path) -> dict[str, Any]:
    direct = direct_store(work / "direct")
    served_settings = load_settings(clickhouse_dsn=f"chdb://{work / 'served'}")
    served = open_store(served_settings)
    try:
        direct.migrate()
        served.migrate()
        server = owner.discover(work / "served")
        assert server is not None
        times: dict[str, list[float]] = {"direct": [], "server": []}
        cpu = {"direct_s": 0.0, "client_s": 0.0, "server_s": 0.0}
        for i in range(batches):
            data = batch(i * rows, rows)
            own = own_cpu()
            times["direct"].append(insert_round(direct, data, f"b{i}"))
            cpu["direct_s"] += own_cpu() - own
            own, other = own_cpu(), cpu_seconds(server.pid)
            times["server"].append(insert_round(served, data, f"b{i}"))
            cpu["client_s"] += own_cpu() - own
            cpu["server_s"] += cpu_seconds(server.pid) - other
        rates = {k: rows * len(v) / sum(v) for k, v in times.items()}
        stored = {
            "direct": direct.query_rows("SELECT count() FROM rack_power")[0][0],
            "server": served.query_rows("SELECT count() FROM rack_power")[0][0],
        }
        return {
            "batches": batches,
            "rows_per_batch": rows,
            "rows_per_s": {k: round(v) for k, v in rates.items()},
            "ratio": round(rates["server"] / rates["direct"], 3),
            "median_batch_ms": {k: round(statistics.median(v) * 1000, 1) for k, v in times.items()},
            # CPU seconds: the direct inserts (this process), and the server path's
            # client (this process) and server process
            "cpu_s": {k: round(v, 2) for k, v in cpu.items()},
            "cpu_ratio": round((cpu["client_s"] + cpu["server_s"]) / cpu["direct_s"], 3),
            "query_round_trip_ms": {
                "direct": round(query_round_trip(direct), 2),
                "server": round(query_round_trip(served), 2),
            },
            "stored_rows": stored,
        }
    finally:
        direct.close()
        served.close()
        owner.stop(work / "served")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=result_path("store_server.json"))
    add_smoke(parser)
    args = smallest(parser.parse_args(), batches=2, rows=500)
    with tempfile.TemporaryDirectory(prefix="megawatch-store-bench-") as work:
        result = run(args.batches, args.rows, Path(work))
    write_json(args.out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
