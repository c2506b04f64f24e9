"""Insert serialization: clickhouse-connect's Native writer vs megawatch's encoder.

The rows are GPU samples of a simulated training campus (:mod:`campus_telemetry`), as
the worker's sink holds them: the ``gpu_samples`` columns in the order the core builds
them, epoch-ms timestamps, optional strings as '' and optional numbers as None where
agents omit them. Both serializers run in this one process, alternating rounds:
clickhouse-connect's ``NativeTransform.build_insert`` on an ``InsertContext`` (exactly
what ``Client.insert`` runs in its insert path, less the HTTP send) and
:func:`pipeline.store.native.encode_block`. Reported: CPU microseconds per row of each
(best round) and ``ratio`` = clickhouse-connect / encoder; the two bodies are checked to
be byte-identical first.

``gather`` times what the worker's sink does before that, for 1,000-row messages
gathered into 20,000-row batches then encoded: each message's values copied into one
list per column (``list.extend``, as the sink did before December 7 2026) against each
message's column lists kept as the pieces of a :class:`pipeline.store.columns.Chunked`
(what it does now), alternating rounds, the two blocks checked identical.

``--store`` also inserts the rows in sink-sized batches through a real store server
(chDB, loopback HTTP) both ways and reports the CPU per row of this process and of the
store server process.

    python benchmarks/insert_encode.py --rows 100000 --rounds 5 --store
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

import orjson
from bench_output import add_smoke, result_path, smallest, write_json
from campus_telemetry import Campus, generate
from clickhouse_connect.datatypes.registry import get_from_name
from clickhouse_connect.driver.insert import InsertContext
from clickhouse_connect.driver.transform import NativeTransform
from cpu_usage import process_seconds

from pipeline.core.rows import GPU_COLUMNS
from pipeline.settings import load_settings
from pipeline.store import client as store_client
from pipeline.store import open_store, owner
from pipeline.store.columns import Chunked
from pipeline.store.native import encode_block

NAMES = [*GPU_COLUMNS, "kafka_cluster"]
OPTIONAL_TEXT = ("vendor", "model", "job", "tenant", "priority")  # stored as '' when absent


def gpu_columns(rows: int) -> list[list[Any]]:
    """``rows`` GPU samples of a 2-hall campus as the sink's columns (recent event time:
    the tables' 90-day TTL would drop old rows on insert)."""
    campus = Campus(halls=2, racks_per_hall=250, partitions=2)
    per_tick = campus.gpus()
    start_ms = int(time.time()) // 60 * 60_000 - 3_600_000
    load = generate(campus, -(-rows // per_tick), start_ms, gpu_every=1, batch=1000)
    columns: list[list[Any]] = [[] for _ in NAMES]
    offset = 0
    for message in load.messages:
        if message.topic != "telemetry.gpu":
            continue
        events = orjson.loads(message.value)["events"]
        # as pipeline.core.processor builds them: the message's site once, the other
        # fields per event (decoded strings: one object each), optional text as ''
        columns[0] += [events[0]["site"]] * len(events)
        for i, name in enumerate(GPU_COLUMNS[1:-2], start=1):
            values = [e.get(name) for e in events]
            columns[i] += [v or "" for v in values] if name in OPTIONAL_TEXT else values
        columns[-3] += [offset % 2] * len(events)  # kafka_partition
        columns[-2] += [offset] * len(events)  # kafka_offset: one per message
        columns[-1] += ["cluster-a"] * len(events)
        offset += 1
    return [column[:rows] for column in columns]


def _context(columns: list[list[Any]], types: dict[str, str], **options: Any) -> Any:
    return InsertContext(
        "gpu_samples",
        NAMES,
        [get_from_name(types[n]) for n in NAMES],
        columns,
        column_oriented=True,
        **options,
    )


def clickhouse_connect_body(columns: list[list[Any]], types: dict[str, str]) -> bytes:
    return b"".join(NativeTransform.build_insert(_context(columns, types)))


def encoder_body(columns: list[list[Any]], types: dict[str, str]) -> bytes:
    block = encode_block(NAMES, [types[n] for n in NAMES], columns)
    assert block is not None, "the encoder refused the GPU rows"
    return block


def cpu_us_per_row(serialize: Any, columns: list[list[Any]], types: dict[str, str]) -> float:
    started = time.process_time()
    serialize(columns, types)
    return (time.process_time() - started) * 1e6 / len(columns[0])


def encode_rounds(columns: list[list[Any]], rounds: int, types: dict[str, str]) -> dict[str, Any]:
    one_block = clickhouse_connect_one_block(columns, types)
    identical = encoder_body(columns, types) == one_block
    times: dict[str, list[float]] = {"clickhouse_connect": [], "encoder": []}
    for _ in range(rounds):
        times["clickhouse_connect"].append(cpu_us_per_row(clickhouse_connect_body, columns, types))
        times["encoder"].append(cpu_us_per_row(encoder_body, columns, types))
    best = {k: min(v) for k, v in times.items()}
    return {
        "cpu_us_per_row": {k: round(v, 3) for k, v in best.items()},
        "ratio": round(best["clickhouse_connect"] / best["encoder"], 2),
        "rounds_us_per_row": {k: [round(x, 3) for x in v] for k, v in times.items()},
        "byte_identical": identical,
        "block_bytes_per_row": round(len(one_block) / len(columns[0]), 1),
    }


def gather_rounds(
    columns: list[list[Any]], rounds: int, types: dict[str, str], message: int = 1_000
) -> dict[str, Any]:
    """CPU per row of gathering ``message``-row pieces into sink-sized batches and encoding
    each: copied into one list per column, or kept as pieces."""
    type_names = [types[n] for n in NAMES]
    rows = len(columns[0])
    batch = 20 * message

    def run(pieces: bool) -> tuple[float, list[bytes]]:
        # each message's own lists, fresh objects as a decoder hands them over
        messages = [[list(c[s : s + message]) for c in columns] for s in range(0, rows, message)]
        blocks: list[bytes] = []
        started = time.process_time()
        for first in range(0, len(messages), batch // message):
            gathered: list[Any] = [Chunked() if pieces else [] for _ in NAMES]
            for parts in messages[first : first + batch // message]:
                for target, values in zip(gathered, parts, strict=True):
                    (target.add if pieces else target.extend)(values)
            block = encode_block(NAMES, type_names, gathered)
            assert block is not None, "the encoder refused the GPU rows"
            blocks.append(block)
        return (time.process_time() - started) * 1e6 / rows, blocks

    times: dict[str, list[float]] = {"copied": [], "pieces": []}
    identical = True
    for _ in range(rounds):
        copied, copied_blocks = run(pieces=False)
        kept, kept_blocks = run(pieces=True)
        times["copied"].append(copied)
        times["pieces"].append(kept)
        identical = identical and copied_blocks == kept_blocks
    best = {k: min(v) for k, v in times.items()}
    return {
        "rows_per_message": message,
        "rows_per_batch": batch,
        "cpu_us_per_row": {k: round(v, 3) for k, v in best.items()},
        "ratio": round(best["copied"] / best["pieces"], 2),
        "rounds_us_per_row": {k: [round(x, 3) for x in v] for k, v in times.items()},
        "byte_identical": identical,
    }


def clickhouse_connect_one_block(columns: list[list[Any]], types: dict[str, str]) -> bytes:
    """clickhouse-connect's body for one block of all rows, less its INSERT line."""
    context = _context(columns, types, block_size=len(columns[0]) + 1)
    body = b"".join(NativeTransform.build_insert(context))
    return body[body.index(b"FORMAT Native\n") + len(b"FORMAT Native\n") :]


def schema_types(work: Path) -> dict[str, str]:
    """gpu_samples' column types as the migrations create them, read from a real store."""
    store = open_store(load_settings(clickhouse_dsn=f"chdb://{work / 'schema'}"))
    try:
        store.migrate()
        rows = store.query_rows(
            "SELECT name, type FROM system.columns "
            "WHERE database = currentDatabase() AND table = 'gpu_samples'"
        )
    finally:
        store.close()
        owner.stop(work / "schema")
    return {str(name): str(kind) for name, kind in rows}


def store_rounds(columns: list[list[Any]], batch: int, work: Path) -> dict[str, Any]:
    """Sink-sized batches into a real store server, through the encoder and through
    clickhouse-connect's insert (the encoder switched off), alternating batches."""
    store = open_store(load_settings(clickhouse_dsn=f"chdb://{work / 'store'}"))
    try:
        store.migrate()
        server = owner.discover(work / "store")
        assert server is not None
        cpu = {f"{path}_{side}": 0.0 for path in ("encoder", "cc") for side in ("client", "server")}
        rows = {"encoder": 0, "cc": 0}
        total = len(columns[0])
        for n, start in enumerate(range(0, total, batch)):
            part = [column[start : start + batch] for column in columns]
            path = "encoder" if n % 2 == 0 else "cc"
            own, other = process_seconds(os.getpid()), process_seconds(server.pid)
            if path == "encoder":
                store.insert_columns("gpu_samples", NAMES, part, f"b{n}")
            else:
                with mock.patch.object(store_client, "encode_block", lambda *_: None):
                    store.insert_columns("gpu_samples", NAMES, part, f"b{n}")
            cpu[f"{path}_client"] += process_seconds(os.getpid()) - own
            cpu[f"{path}_server"] += process_seconds(server.pid) - other
            rows[path] += len(part[0])
        stored = store.query_rows("SELECT count() FROM gpu_samples")[0][0]
    finally:
        store.close()
        owner.stop(work / "store")
    per_row = {k: round(v * 1e6 / rows[k.split("_")[0]], 3) for k, v in cpu.items()}
    return {
        "rows_per_batch": batch,
        "rows": rows,
        "stored_rows": stored,
        "cpu_us_per_row": per_row,
        "client_ratio": round(per_row["cc_client"] / per_row["encoder_client"], 2),
        "server_ratio": round(per_row["cc_server"] / per_row["encoder_server"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--store", action="store_true", help="also insert into a store server")
    parser.add_argument("--store-rows", type=int, default=400_000)
    parser.add_argument("--batch", type=int, default=20_000, help="MEGAWATCH_SINK_MAX_ROWS")
    parser.add_argument("--out", type=Path, default=result_path("insert_encode.json"))
    add_smoke(parser)
    args = smallest(parser.parse_args(), rows=2_000, rounds=1, store_rows=4_000, batch=1_000)
    columns = gpu_columns(max(args.rows, args.store_rows if args.store else 0))
    sample = [column[: args.rows] for column in columns]
    with tempfile.TemporaryDirectory(prefix="megawatch-encode-bench-") as work:
        types = schema_types(Path(work))
        result: dict[str, Any] = {
            "rows": args.rows,
            "encode": encode_rounds(sample, args.rounds, types),
            "gather": gather_rounds(sample, args.rounds, types, message=min(1_000, args.rows)),
        }
        if args.store:
            store_cols = [column[: args.store_rows] for column in columns]
            result["store"] = store_rounds(store_cols, args.batch, Path(work))
    write_json(args.out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
