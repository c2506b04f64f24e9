"""What an insert costs the store whatever its size: small inserts into ``gpu_samples``
with and without its materialized views, through a real store server.

The embedded engine (chDB) pays a fixed CPU cost per statement and per materialized
view an insert feeds, on top of the cost per row. This sizes it: copies of
``gpu_samples`` (same columns, engine and settings) with no view, with each of the views
that read ``gpu_samples`` in the migrations, and with all of them (what the real table
has), each fed ``--batches`` inserts of ``--rows`` GPU rows of the simulated campus per
round, the copies alternating within each round. Reported: the store server process's
CPU milliseconds per insert for each copy (median of the rounds, every round listed),
each view's increment over the copy without views, and the CPU of a ``SELECT 1``.
Background merges of the small parts run meanwhile and are counted, as they are in a
worker's drain.

    python benchmarks/insert_fixed_cost.py --rounds 4 --batches 15 --rows 500
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench_output import add_smoke, result_path, smallest, write_json
from cpu_usage import process_seconds
from insert_encode import NAMES, gpu_columns
from throughput import machine

from pipeline.settings import load_settings
from pipeline.store import Store, open_store, owner
from pipeline.store.migrations import load_migrations

SOURCE = "gpu_samples"


def views_of(source: str) -> dict[str, str]:
    """The migrations' materialized views that read ``source``: name -> CREATE statement."""
    found: dict[str, str] = {}
    pattern = re.compile(r"CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+) TO .*?;", re.S)
    for migration in load_migrations():
        for match in pattern.finditer(migration.sql):
            if re.search(rf"\bFROM {source}\b", match.group(0)):
                found[match.group(1)] = match.group(0)
    return found


def copy_with(store: Store, table: str, views: dict[str, str]) -> None:
    """A copy of the source table fed into the same targets by ``views``."""
    store.command(f"CREATE TABLE {table} AS {SOURCE}")
    for name, sql in views.items():
        store.command(
            sql.replace(f"VIEW IF NOT EXISTS {name} ", f"VIEW {name}_{table} ", 1)
            .replace(f"{SOURCE}.", f"{table}.")
            .replace(f"FROM {SOURCE}", f"FROM {table}")
        )


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    views = views_of(SOURCE)
    columns = gpu_columns(args.batches * args.rows)
    store = open_store(load_settings(clickhouse_dsn=f"chdb://{work / 'store'}"))
    try:
        store.migrate()
        copies = {"no_view": {}, **{f"only_{n}": {n: sql} for n, sql in views.items()}}
        copies["all_views"] = views
        for number, chosen in enumerate(copies.values()):
            copy_with(store, f"copy{number}", chosen)
        server = owner.discover(work / "store")
        assert server is not None
        per_insert: dict[str, list[float]] = {label: [] for label in copies}
        for round_ in range(args.rounds):
            for number, label in enumerate(copies):
                before = process_seconds(server.pid)
                for b in range(args.batches):
                    part = [c[b * args.rows : (b + 1) * args.rows] for c in columns]
                    store.insert_columns(f"copy{number}", NAMES, part, f"{label}:{round_}:{b}")
                spent = process_seconds(server.pid) - before
                per_insert[label].append(round(spent * 1000 / args.batches, 1))
        before = process_seconds(server.pid)
        for _ in range(args.selects):
            store.query_rows("SELECT 1")
        select_ms = (process_seconds(server.pid) - before) * 1000 / args.selects
    finally:
        store.close()
        owner.stop(work / "store")
    median = {label: statistics.median(v) for label, v in per_insert.items()}
    return {
        "machine": machine(),
        "rows_per_insert": args.rows,
        "views": list(views),
        "cpu_ms_per_insert": median,
        "rounds_cpu_ms_per_insert": per_insert,
        "view_increment_ms": {
            label: round(ms - median["no_view"], 1)
            for label, ms in median.items()
            if label != "no_view"
        },
        "select_1_cpu_ms": round(select_ms, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--batches", type=int, default=15, help="inserts per copy and round")
    parser.add_argument("--rows", type=int, default=500, help="rows per insert")
    parser.add_argument("--selects", type=int, default=200, help="SELECT 1 statements timed")
    parser.add_argument("--out", type=Path, default=result_path("insert_fixed_cost.json"))
    add_smoke(parser)
    args = smallest(parser.parse_args(), rounds=1, batches=2, rows=50, selects=2)
    with tempfile.TemporaryDirectory(prefix="megawatch-insert-cost-") as work:
        result = measure(args, Path(work))
    write_json(args.out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
