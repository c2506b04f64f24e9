"""megawatch against plain implementations of its own job, on the same backlog, in one run.

One embedded broker, one pre-produced backlog of the simulated 1 GW campus (as
``throughput.py``), then each contender drains all of it from the earliest offset in its
own consumer group, one after another, each into its own chDB store:

* ``megawatch``: ``megawatch worker`` (Faust) and its store server; readings/s from its
  first processed reading until every reading is stored (as ``throughput.py``);
* ``aiokafka``: a plain ``getmany`` loop (``peer_plain.py``);
* ``quix-streams``: a quix-streams application, inserts at checkpoint (``peer_quix.py``;
  skipped, with the reason in the JSON, when quixstreams is not installed).

The peers validate with the same pydantic models and do the same work (:mod:`peer_job`),
without dead letters, ledger or alert publication. CPU: the contender's processes only
(worker + store server; the peer process, all its threads), over its drain.

    python benchmarks/peers.py [--seconds 20] [--only megawatch,aiokafka,quix-streams]

Prints the table (contender | readings/s | readings per CPU-second) and writes
benchmarks/results/peers.json.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_output import add_smoke, result_path, smallest, write_json
from campus_telemetry import Campus, generate
from cpu_usage import CpuMeter, busy_seconds, process_seconds
from kafka_load import produce_backlog
from phases import drain
from worker_process import WorkerProcess

from pipeline.broker.process import EmbeddedBroker
from pipeline.kafka.endpoint import KafkaEndpoint
from pipeline.kafka.site_specs import publish_specs
from pipeline.kafka.topics import ensure_topics
from pipeline.settings import load_settings
from pipeline.store import owner

HERE = Path(__file__).resolve().parent
PEERS = {"aiokafka": "peer_plain.py", "quix-streams": "peer_quix.py"}


def run_megawatch(data_dir: Path, bootstrap: str, readings: int) -> dict[str, Any]:
    worker = WorkerProcess(data_dir, {"MEGAWATCH_KAFKA_BOOTSTRAP": bootstrap})
    try:
        worker.start()
        meter = CpuMeter({"worker": worker.pid}).start()
        store = owner.discover(data_dir / "clickhouse")
        store_cpu0 = process_seconds(store.pid) if store else 0.0
        try:
            result = drain(worker, 0, readings)
        except Exception as exc:
            raise RuntimeError(f"{exc}; worker log:\n{worker.tail(25)}") from exc
        cpu = meter.stop()
        store_cpu = (process_seconds(store.pid) - store_cpu0) if store else 0.0
        result.pop("timeline", None)
        return {
            "readings": readings,
            "seconds": result["seconds"],
            "cpu_s": round(cpu["worker"] + store_cpu, 2),
            "worker_cpu_s": cpu["worker"],
            "store_server_cpu_s": round(store_cpu, 2),
            "foreign_cpu_s": cpu["foreign_cpu_s"],
        }
    finally:
        worker.stop()
        owner.stop(data_dir / "clickhouse")


def run_peer(
    script: str, bootstrap: str, readings: int, store: Path, caps: dict[str, float]
) -> dict[str, Any]:
    command = [
        sys.executable,
        str(HERE / script),
        bootstrap,
        str(readings),
        str(store),
        json.dumps(caps),
    ]
    busy = busy_seconds()
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    busy = busy_seconds() - busy
    if done.returncode != 0:
        raise RuntimeError(f"{script} exited {done.returncode}: {done.stderr[-2000:]}")
    result = dict(json.loads(done.stdout.strip().splitlines()[-1]))
    # the machine's busy CPU over the whole peer process (its start and group join too)
    # minus the peer's own over its drain: an upper bound of what others used
    result["foreign_cpu_s_at_most"] = round(max(0.0, busy - result["cpu_s"]), 1)
    return result


def contenders(only: list[str]) -> dict[str, str | None]:
    """name -> why it is skipped (None: it runs)."""
    out: dict[str, str | None] = {name: None for name in only}
    if "quix-streams" in out and importlib.util.find_spec("quixstreams") is None:
        out["quix-streams"] = "quixstreams not installed: pip install -e '.[bench]'"
    return out


def measure(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    campus = Campus(halls=args.halls, racks_per_hall=args.racks_per_hall)
    caps = {spec.site: spec.cap_mw * 1e6 for spec in campus.specs()}
    out: dict[str, Any] = {"started_at": datetime.now(UTC).isoformat(timespec="seconds")}
    with EmbeddedBroker(tmp) as broker:
        settings = load_settings(data_dir=tmp)
        ensure_topics(settings, KafkaEndpoint(broker.bootstrap, True, broker.cluster_id))
        publish_specs(settings, campus.specs())
        start_ms = int(time.time() * 1000) - args.seconds * 1000
        load = generate(campus, args.seconds, start_ms, gpu_every=args.gpu_every, batch=args.batch)
        asyncio.run(produce_backlog(broker.bootstrap, load.messages))
        readings = load.readings
        out["backlog"] = {
            "readings": readings,
            "messages": len(load.messages),
            "halls": campus.halls,
        }
        print(f"backlog: {readings:,} readings in {len(load.messages):,} messages", flush=True)
        results: dict[str, Any] = {}
        for name, skipped in contenders(args.only).items():
            if skipped:
                results[name] = {"skipped": skipped}
                continue
            where = tmp / name
            where.mkdir()
            try:
                if name == "megawatch":
                    got = run_megawatch(where, broker.bootstrap, readings)
                else:
                    got = run_peer(PEERS[name], broker.bootstrap, readings, where / "store", caps)
            except Exception as exc:  # one contender failing still reports the others
                results[name] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
                print(f"{name}: failed: {results[name]['error'][:300]}", flush=True)
                continue
            got["readings_per_s"] = round(got["readings"] / got["seconds"])
            got["readings_per_cpu_s"] = (
                round(got["readings"] / got["cpu_s"]) if got["cpu_s"] else None
            )
            results[name] = got
            print(f"{name}: {got['readings_per_s']:,} readings/s", flush=True)
    out["contenders"] = results
    out["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return out


def table(results: dict[str, Any]) -> str:
    lines = ["| contender | readings/s | readings per CPU-second |", "|---|---|---|"]
    for name, r in results.items():
        if "readings_per_s" in r:
            per_cpu = f"{r['readings_per_cpu_s']:,}" if r["readings_per_cpu_s"] else "?"
            lines.append(f"| {name} | {r['readings_per_s']:,} | {per_cpu} |")
        else:
            lines.append(f"| {name} | {r.get('skipped') or r.get('error')} | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="backlog: campus seconds")
    parser.add_argument("--halls", type=int, default=8)
    parser.add_argument("--racks-per-hall", type=int, default=1000)
    parser.add_argument("--gpu-every", type=int, default=10)
    parser.add_argument("--batch", type=int, default=1000, help="events per message, at most")
    parser.add_argument(
        "--only",
        type=lambda s: s.split(","),
        default=["megawatch", "aiokafka", "quix-streams"],
        help="comma-separated contenders, run in this order",
    )
    parser.add_argument("--out", type=Path, default=result_path("peers.json"))
    add_smoke(parser)
    args = smallest(parser.parse_args(), seconds=1, halls=1, racks_per_hall=20, batch=100)
    with tempfile.TemporaryDirectory(prefix="megawatch-peers-") as tmp:
        result = measure(args, Path(tmp))
    best = max(
        (
            r["readings_per_s"]
            for n, r in result["contenders"].items()
            if n != "megawatch" and "readings_per_s" in r
        ),
        default=None,
    )
    mine = result["contenders"].get("megawatch", {}).get("readings_per_s")
    result["megawatch_vs_best_peer"] = round(mine / best, 3) if mine and best else None
    result["parameters"] = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    write_json(args.out, result)
    print(table(result["contenders"]))
    print(f"megawatch / best peer: {result['megawatch_vs_best_peer']}; written to {args.out}")


if __name__ == "__main__":
    main()
