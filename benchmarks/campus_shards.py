"""The 1 GW campus as ONE sharded site, drained by 1, 2 and 3 workers.

The campus of ``examples/campus-1gw.yaml`` at ``--scale`` (default 0.05: 380 GB200 racks,
27,360 GPUs, 50 MW), every GPU at 1 Hz, keyed by shard: by hall, or with
``--rows-per-hall`` N by row (``campus-1gw/hall-01.row-2``: 8 x N shards, which spread over
``--partitions`` far more evenly than 8 hall keys). ``--seconds`` of it are simulated and
encoded before anything is timed (event time in the past: a backlog).

Each worker count gets a fresh embedded broker and store (so runs share no offsets,
ledgers or deduplication tokens); the workers start and settle first, then the backlog
is produced while they drain it (as :mod:`scaling` does). Reported per run: readings/s
(first processed reading until every reading is stored), CPU seconds per process (each
worker, the store server every insert goes through, the broker, this process) from the
start of the drain until the store's merges of it are done (``merges_settled_s`` after
the last insert: counting only up to the last insert left a one-worker run's merges,
which start later, out of its figure), the consumer lag (summed over partitions, sampled
every 0.5 s: its peak, and how long it took to reach 0), the partials that crossed
workers, the inserts the workers made (the store pays a fixed cost per insert), the
store server's CPU per thread group (chDB's inserts, its merges, the server's Python)
and the partitions' spread of the shard keys; and per worker and partition the readings
processed. Then the per-shard figures docs/scaling.md is built from: CPU seconds per
million readings, by process.

    python benchmarks/campus_shards.py      # ~6 min; JSON in benchmarks/results/
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from bench_output import add_smoke, result_path, smallest, write_json
from campus_telemetry import Message
from cpu_usage import CpuMeter, thread_seconds, thread_seconds_since
from kafka_load import producer
from phases import drain, settle_merges
from throughput import machine
from worker_process import WorkerProcess, WorkerTeam

from pipeline.broker.process import EmbeddedBroker
from pipeline.kafka.endpoint import KafkaEndpoint
from pipeline.kafka.site_specs import publish_specs
from pipeline.kafka.topics import ensure_topics, key_partition
from pipeline.settings import load_settings, unknown_variables
from pipeline.sources.sim.fleet import Fleet, load_fleet
from pipeline.sources.sim.simulator import FleetSimulator, SimOptions, SimSource
from pipeline.store import owner

CAMPUS = Path(__file__).resolve().parent.parent / "examples" / "campus-1gw.yaml"


def campus(scale: float, rows_per_hall: int) -> Fleet:
    fleet = load_fleet(CAMPUS).scaled(scale)
    site = fleet.sites[0].site
    sim = fleet.simulation[site].model_copy(update={"rows_per_hall": rows_per_hall})
    return fleet.model_copy(update={"simulation": {site: sim}})


def backlog(fleet: Fleet, seconds: int, batch: int) -> tuple[list[Message], int]:
    """``seconds`` ticks of the campus ending now, as messages keyed by shard."""
    start_ms = int(time.time() * 1000) - seconds * 1000
    options = SimOptions(seed=1, interval_s=1.0, start_ms=start_ms)
    source = SimSource(FleetSimulator.from_names(fleet, ["steady"], options), batch_size=batch)
    messages: list[Message] = []
    for _ in range(seconds):
        _, out = source.tick_messages()
        for m in out:
            n = len(orjson.loads(m.value)["events"])
            messages.append(Message(m.topic, m.key, m.value, n))
    return messages, sum(m.readings for m in messages)


async def produce(bootstrap: str, messages: list[Message], acked: list[int]) -> None:
    """Send every message; ``acked[0]``: readings the broker has acknowledged so far."""
    prod = producer(bootstrap)
    await prod.start()
    try:
        pending: list[tuple[asyncio.Future[Any], int]] = []
        for m in messages:
            pending.append((await prod.send(m.topic, m.value, key=m.key), m.readings))
            if len(pending) >= 200 or m is messages[-1]:
                await asyncio.gather(*(f for f, _ in pending))
                acked[0] += sum(n for _, n in pending)
                pending.clear()
    finally:
        await prod.stop()


class LagSampler(threading.Thread):
    """Every 0.5 s while draining: the readings the broker holds that the workers have
    not processed yet (acknowledged minus processed). Counted here rather than read from
    ``megawatch_consumer_lag``: on the embedded broker the workers' end offsets are
    refreshed every 5 s, longer than these drains' peaks last."""

    def __init__(self, team: WorkerTeam, acked: list[int]) -> None:
        super().__init__(daemon=True)
        self.team, self.acked = team, acked
        self.samples: list[tuple[float, int]] = []
        self.stopping = False

    def run(self) -> None:
        t0 = time.perf_counter()
        while not self.stopping:
            processed = sum(
                int(w.metrics().get("megawatch_readings_total", 0)) for w in self.team.workers
            )
            behind = max(0, self.acked[0] - processed)
            self.samples.append((round(time.perf_counter() - t0, 1), behind))
            time.sleep(0.5)

    def summary(self) -> dict[str, Any]:
        peak_at, peak = max(self.samples, key=lambda s: s[1])
        zero = next((t for t, behind in self.samples if t > peak_at and behind == 0), None)
        return {
            "peak_readings_behind": peak,
            "peak_at_s": peak_at,
            "caught_up_at_s": zero,
            "samples": self.samples[:: max(1, len(self.samples) // 30)],
        }


def drain_with(
    n: int,
    messages: list[Message],
    readings: int,
    fleet: Fleet,
    partitions: int,
    worker_env: dict[str, str],
) -> dict[str, Any]:
    """Drain ``messages`` with ``n`` workers on a fresh broker and store."""
    with (
        tempfile.TemporaryDirectory(prefix=f"megawatch-shards-{n}-") as tmp,
        EmbeddedBroker(Path(tmp)) as broker,
    ):
        data_dir = Path(tmp)
        settings = load_settings(data_dir=data_dir, kafka_partitions=partitions)
        ensure_topics(settings, KafkaEndpoint(broker.bootstrap, True, broker.cluster_id))
        publish_specs(settings, fleet.site_specs())
        env = {**worker_env, "MEGAWATCH_KAFKA_PARTITIONS": str(partitions)}
        team = WorkerTeam([WorkerProcess(data_dir, env, name=f"worker-{i + 1}") for i in range(n)])
        try:
            out: dict[str, Any] = {"start_s": round(team.start(), 1)}
            out["settle_s"] = round(team.wait_assigned(), 1)
            store = owner.discover(data_dir / "clickhouse")
            pids = {**team.pids, "broker": broker.pid}
            if store is not None:
                pids["store"] = store.pid
            acked = [0]
            lag = LagSampler(team, acked)
            meter = CpuMeter(pids).start()
            store_threads = thread_seconds(pids["store"]) if "store" in pids else None
            lag.start()

            def during() -> None:
                asyncio.run(produce(broker.bootstrap, messages, acked))

            out.update(drain(team, 0, readings, during=during))  # type: ignore[arg-type]
            # the drain's merges belong to its cost: a run whose parts are merged after
            # the meter stopped would look cheaper than one whose are merged before
            out["merges_settled_s"] = settle_merges(team.workers[0])
            out["cpu_s"] = meter.stop()
            if store_threads is not None:  # chDB's inserts, merges and the server's Python
                out["store_threads_cpu_s"] = thread_seconds_since(pids["store"], store_threads)
            lag.stopping = True
            lag.join()
            out["lag"] = lag.summary()
            out["partition_readings"] = team.partition_readings()
            metrics = [w.metrics() for w in team.workers]
            out["partials"] = {
                outcome: int(
                    sum(
                        m.get(f'megawatch_partials_total{{outcome="{outcome}"}}', 0)
                        for m in metrics
                    )
                )
                for outcome in ("sent", "applied", "ignored")
            }
            # chDB's cost per insert is fixed whatever its size (insert_fixed_cost.py):
            # how many the workers made says how much of the store's CPU that is
            out["inserts"] = int(sum(m.get("megawatch_sink_batch_rows_count", 0) for m in metrics))
            out["site_stage_on"] = [
                w.name
                for w, m in zip(team.workers, metrics, strict=True)
                if m.get("megawatch_sites", 0)
            ]
            out.pop("timeline", None)
            return out
        finally:
            team.stop()
            owner.stop(data_dir / "clickhouse")


def per_million(run: dict[str, Any], readings: int) -> dict[str, float]:
    """CPU seconds per million readings, by kind of process."""
    cpu = run["cpu_s"]
    workers = sum(v for k, v in cpu.items() if k.startswith("worker-"))
    return {
        "workers": round(workers / readings * 1e6, 2),
        "store": round(cpu.get("store", 0.0) / readings * 1e6, 2),
        "broker": round(cpu.get("broker", 0.0) / readings * 1e6, 2),
    }


def worker_setting(text: str) -> tuple[str, str]:
    """``--worker-env``: NAME=VALUE, NAME a megawatch setting's variable."""
    name, sep, value = text.partition("=")
    if not sep or not name.startswith("MEGAWATCH_"):
        raise argparse.ArgumentTypeError(f"{text!r}: want MEGAWATCH_NAME=VALUE")
    unknown = unknown_variables({name: value}, env_file=Path("/nonexistent"))
    if unknown:
        raise argparse.ArgumentTypeError(unknown[0].removesuffix(": ignored"))
    return name, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--scale", type=float, default=0.05)
    parser.add_argument("--rows-per-hall", type=int, default=4)
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--seconds", type=int, default=60, help="campus seconds of backlog")
    parser.add_argument("--batch", type=int, default=2000, help="events per message, at most")
    parser.add_argument("--workers", default="1,2,3")
    parser.add_argument("--out", type=Path, default=result_path("campus_shards.json"))
    parser.add_argument(
        "--worker-env",
        type=worker_setting,
        action="append",
        default=[],
        metavar="MEGAWATCH_NAME=VALUE",
        help="a setting for every worker (repeatable), e.g. MEGAWATCH_SINK_FLUSH_INTERVAL_S=2",
    )
    add_smoke(parser)
    args = smallest(parser.parse_args(), scale=0.005, seconds=3, workers="1,2")
    fleet = campus(args.scale, args.rows_per_hall)
    t = time.perf_counter()
    messages, readings = backlog(fleet, args.seconds, args.batch)
    keys = sorted({m.key.decode() for m in messages})
    spread = Counter(key_partition(k.encode(), args.partitions) for k in keys)
    result: dict[str, Any] = {
        "machine": machine(),
        "parameters": {k: str(v) for k, v in vars(args).items()},
        "campus": {
            "racks": fleet.simulation[fleet.sites[0].site].rack_count,
            "cap_mw": fleet.sites[0].cap_mw,
            "shards": len(keys),
            "readings_per_campus_second": readings // args.seconds,
            "readings": readings,
            "messages": len(messages),
            "by_topic": dict(Counter(m.topic for m in messages)),
            "generate_s": round(time.perf_counter() - t, 1),
        },
        "shards_per_partition": dict(sorted(spread.items())),
        "runs": {},
    }
    for n in (int(w) for w in args.workers.split(",")):
        run = drain_with(n, messages, readings, fleet, args.partitions, dict(args.worker_env))
        run["cpu_s_per_million_readings"] = per_million(run, readings)
        result["runs"][f"workers_{n}"] = run
        print(
            f"{n} worker(s): {run['readings_per_s']:,} readings/s, at most "
            f"{run['lag']['peak_readings_behind']:,} readings behind, cpu {run['cpu_s']}",
            flush=True,
        )
        write_json(args.out, result)  # after each run: a long run keeps what it measured
    print(json.dumps({k: v["readings_per_s"] for k, v in result["runs"].items()}))


if __name__ == "__main__":
    main()
