"""Where a reading's CPU goes: the whole drain profiled, per stage, in us of CPU per reading.

One embedded broker, the campus backlog of ``throughput.py`` (``--seconds`` of it,
produced first), one worker (``python -m pipeline worker``) and its store server. While
the worker drains the backlog, py-spy samples both processes (every thread, 100 Hz,
idle threads not sampled); each process's CPU seconds over the drain come from
``/proc``. Each sample is put in one stage by the innermost frame that names one
(:data:`STAGES`, in that order), and each process's CPU is split over its stages by
their share of its samples:

* worker: Kafka fetch (aiokafka's fetcher and record parsing in Faust's consumer
  thread), Faust per event (Faust, mode and the asyncio loop around each message: the
  stream, the event, acks, commits), decode, core (live state, rules, energy), row
  building (the columns of a message's rows, the sink's buffers), serialization (the
  Native block), transfer (the HTTP client), commit (ordered acks, the ledger), other;
* store server: transfer (aiohttp: the request read), store parse + views (the engine's
  insert: chDB parses the block, sorts, compresses, writes the part and runs the
  materialized views), store queries (the engine's other statements), other.

With ``--without-views`` the drain is run a second time on a fresh broker and store
whose materialized views were dropped after the migrations: the store server's CPU
difference is what the views cost.

    python benchmarks/drain_budget.py [--seconds 20] [--without-views]

JSON (stages, CPU per process, the py-spy raw profiles' paths) in
benchmarks/results/drain_budget.json; ``python benchmarks/profile_summary.py`` reads the
raw profiles.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from bench_output import add_smoke, result_path, smallest, write_json
from campus_telemetry import Campus
from cpu_usage import CpuMeter, thread_seconds, thread_seconds_since
from kafka_load import campus_backlog
from phases import drain
from profile_summary import load
from throughput import machine
from worker_process import PY_SPY, WorkerProcess

from pipeline.broker.process import EmbeddedBroker
from pipeline.settings import load_settings
from pipeline.store import owner

#: (stage, pattern of a frame "function (file:line)"); the innermost matching frame of a
#: sample decides its stage, so the order matters only within one frame
STAGES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (stage, re.compile(pattern))
    for stage, pattern in (
        ("serialization", r"pipeline/store/native\.py|clickhouse_connect/datatypes"),
        ("transfer", r"clickhouse_connect/driver/httpclient|urllib3/|http/client|aiohttp/"),
        ("store parse + views", r"\binsert \(pipeline/store/engine\.py"),
        ("store queries", r"pipeline/store/engine\.py"),
        ("decode", r"pipeline/core/(decode|columnar|typed_json|column_kinds)\.py"),
        ("row building", r"pipeline/core/readings\.py|pipeline/worker/sink\.py|_merged"),
        ("core", r"pipeline/core/"),
        ("commit", r"pipeline/worker/(ack_order|positions|ledger)\.py"),
        ("Kafka fetch", r"aiokafka/"),
        ("metrics", r"prometheus_client/|pipeline/worker/metrics\.py"),
        ("handler", r"pipeline/worker/"),
        ("Faust per event", r"faust/|mode/|asyncio/|venusian"),
    )
)


#: the store server has no Faust: its event loop serves HTTP
STORE_RENAMED = {"Faust per event": "transfer"}


def stage_of(frames: list[str]) -> str:
    for frame in reversed(frames):  # innermost first
        for stage, pattern in STAGES:
            if pattern.search(frame):
                return stage
    return "other"


def stage_samples(profile: Path, renamed: dict[str, str] | None = None) -> Counter[str]:
    counts: Counter[str] = Counter()
    for stacks in load(profile).values():
        for frames, n in stacks:
            stage = stage_of(frames)
            counts[(renamed or {}).get(stage, stage)] += n
    return counts


def spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    argv = [str(PY_SPY), "record", "--pid", str(pid), "--rate", "100", "--threads"]
    argv += ["--nonblocking", "--format", "raw", "-o", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def drop_views(data_dir: Path) -> list[str]:
    """Drop every materialized view of the worker's store (a fresh one, migrated)."""
    from pipeline.store import open_store

    settings = load_settings(data_dir=data_dir, clickhouse_dsn=f"chdb://{data_dir / 'clickhouse'}")
    with open_store(settings) as store:
        store.migrate()
        views = [
            str(row[0])
            for row in store.query_rows(
                "SELECT name FROM system.tables WHERE database = currentDatabase() "
                "AND engine = 'MaterializedView'"
            )
        ]
        for view in views:
            store.command(f"DROP VIEW `{view}`")
    return views


def one_drain(args: argparse.Namespace, tmp: Path, with_views: bool) -> dict[str, Any]:
    campus = Campus(halls=args.halls, racks_per_hall=args.racks_per_hall)
    out: dict[str, Any] = {"views": with_views}
    with EmbeddedBroker(tmp) as broker:
        load_ = campus_backlog(broker, campus, args.seconds, args.gpu_every, args.batch)
        if not with_views:
            out["dropped_views"] = drop_views(tmp)
        worker = WorkerProcess(tmp, {"MEGAWATCH_KAFKA_BOOTSTRAP": broker.bootstrap})
        spies: dict[str, subprocess.Popen[bytes]] = {}
        try:
            worker.start()
            store = owner.discover(tmp / "clickhouse")
            assert store is not None, "the worker started no store server"
            pids = {"worker": worker.pid, "store": store.pid, "broker": broker.pid}
            meter = CpuMeter(pids)
            profiles = {
                name: args.out.with_suffix(f".{name}{'' if with_views else '.noviews'}.txt")
                for name in ("worker", "store")
            }
            spies = {name: spy(pids[name], path) for name, path in profiles.items()}
            at_start: dict[str, Counter[str]] = {}

            def started() -> None:
                meter.start()
                at_start.update({n: thread_seconds(pids[n]) for n in ("worker", "store")})

            result = drain(worker, 0, load_.readings, at_start=started)
            cpu = meter.stop()
            threads = {n: thread_seconds_since(pids[n], at_start[n]) for n in ("worker", "store")}
        finally:
            for proc in spies.values():
                proc.send_signal(2)  # py-spy writes its output on SIGINT
                proc.communicate(timeout=60)
            worker.stop()
            owner.stop(tmp / "clickhouse")
    readings = load_.readings
    result.pop("timeline", None)
    out.update(
        threads_cpu_s=threads,
        drain=result,
        cpu_s=cpu,
        readings=readings,
        profiles={k: str(v) for k, v in profiles.items()},
    )
    out["us_per_reading"] = {}
    for name in ("worker", "store"):
        samples = stage_samples(profiles[name], STORE_RENAMED if name == "store" else None)
        total = sum(samples.values()) or 1
        out["us_per_reading"][name] = {
            stage: round(cpu[name] * 1e6 * n / total / readings, 3)
            for stage, n in samples.most_common()
        }
        out["us_per_reading"][name]["all"] = round(cpu[name] * 1e6 / readings, 3)
    out["us_per_reading"]["broker"] = round(cpu["broker"] * 1e6 / readings, 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="backlog: campus seconds")
    parser.add_argument("--halls", type=int, default=8)
    parser.add_argument("--racks-per-hall", type=int, default=1000)
    parser.add_argument("--gpu-every", type=int, default=10)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--without-views", action="store_true", help="a second drain, no views")
    parser.add_argument("--out", type=Path, default=result_path("drain_budget.json"))
    add_smoke(parser)
    args = smallest(parser.parse_args(), seconds=1, halls=1, racks_per_hall=20, batch=100)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "machine": machine(),
        "parameters": {k: str(v) for k, v in vars(args).items()},
    }
    runs = [True, False] if args.without_views else [True]
    for with_views in runs:
        with tempfile.TemporaryDirectory(prefix="megawatch-budget-") as tmp:
            key = "with_views" if with_views else "without_views"
            result[key] = one_drain(args, Path(tmp), with_views)
    write_json(args.out, result)
    for key in ("with_views", "without_views"):
        if key in result:
            print(key, result[key]["us_per_reading"], result[key]["cpu_s"])


if __name__ == "__main__":
    main()
