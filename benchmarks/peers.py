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
without dead letters, ledger or alert publication, and store the same rows (energy and
link-health columns included) through the same migrations and materialized views. CPU:
the contender's processes only (worker + store server; the peer process, all its
threads), over its drain; the broker's is recorded beside it (``broker_cpu_s``), not
counted: every contender fetches the same messages from the same broker.

    python benchmarks/peers.py [--seconds 20] [--only megawatch,aiokafka,quix-streams]

Prints the table (contender | readings/s | readings per CPU-second) and writes
benchmarks/results/peers.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_output import add_smoke, result_path, smallest, write_json
from campus_telemetry import Campus
from cpu_usage import CpuMeter, process_seconds
from kafka_load import campus_backlog
from phases import drain
from throughput import machine
from worker_process import WorkerProcess

from pipeline.broker.process import EmbeddedBroker
from pipeline.store import owner

HERE = Path(__file__).resolve().parent
PEERS = {"aiokafka": "peer_plain.py", "quix-streams": "peer_quix.py"}


def run_megawatch(data_dir: Path, broker_pid: int, bootstrap: str, readings: int) -> dict[str, Any]:
    worker = WorkerProcess(data_dir, {"MEGAWATCH_KAFKA_BOOTSTRAP": bootstrap})
    try:
        worker.start()
        store = owner.discover(data_dir / "clickhouse")
        pids = {"worker": worker.pid, "broker": broker_pid}
        if store is not None:
            pids["store"] = store.pid
        # CPU from the drain's start (the last poll that saw nothing processed), as the
        # peers count theirs from their first fetched record: start and join excluded
        meter = CpuMeter(pids)
        try:
            result = drain(worker, 0, readings, at_start=meter.start)
        except Exception as exc:
            raise RuntimeError(f"{exc}; worker log:\n{worker.tail(25)}") from exc
        cpu = meter.stop()
        result.pop("timeline", None)
        store_cpu = cpu.get("store", 0.0)
        return {
            "readings": readings,
            "seconds": result["seconds"],
            "cpu_s": round(cpu["worker"] + store_cpu, 2),
            "worker_cpu_s": cpu["worker"],
            "store_server_cpu_s": store_cpu,
            "broker_cpu_s": cpu["broker"],
            "foreign_cpu_s": cpu["foreign_cpu_s"],
        }
    finally:
        worker.stop()
        owner.stop(data_dir / "clickhouse")


def run_peer(
    script: str,
    broker_pid: int,
    bootstrap: str,
    readings: int,
    store: Path,
    caps: dict[str, float],
) -> dict[str, Any]:
    command = [
        sys.executable,
        str(HERE / script),
        bootstrap,
        str(readings),
        str(store),
        json.dumps(caps),
    ]
    broker = process_seconds(broker_pid)
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    broker = process_seconds(broker_pid) - broker
    if done.returncode != 0:
        raise RuntimeError(f"{script} exited {done.returncode}: {done.stderr[-2000:]}")
    result = dict(json.loads(done.stdout.strip().splitlines()[-1]))
    # over the whole peer process (its start and group join too): upper bounds
    result["broker_cpu_s_at_most"] = round(broker, 1)
    # over the drain: the machine's busy CPU less the peer's own and the broker's (the
    # broker's over the whole run: what others used, give or take its idle share)
    result["foreign_cpu_s"] = round(
        max(0.0, result.pop("machine_busy_s") - result["cpu_s"] - broker), 1
    )
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
        load = campus_backlog(broker, campus, args.seconds, args.gpu_every, args.batch)
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
                    got = run_megawatch(where, broker.pid, broker.bootstrap, readings)
                else:
                    got = run_peer(
                        PEERS[name], broker.pid, broker.bootstrap, readings, where / "store", caps
                    )
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
    result["machine"] = machine()
    for figure in ("readings_per_s", "readings_per_cpu_s"):
        best = max(
            (
                r[figure]
                for n, r in result["contenders"].items()
                if n != "megawatch" and r.get(figure)
            ),
            default=None,
        )
        mine = result["contenders"].get("megawatch", {}).get(figure)
        suffix = "" if figure == "readings_per_s" else "_per_cpu"
        result[f"megawatch_vs_best_peer{suffix}"] = round(mine / best, 3) if mine and best else None
    result["parameters"] = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    write_json(args.out, result)
    print(table(result["contenders"]))
    print(
        f"megawatch / best peer: {result['megawatch_vs_best_peer']} readings/s, "
        f"{result['megawatch_vs_best_peer_per_cpu']} per CPU-second; written to {args.out}"
    )


if __name__ == "__main__":
    main()
