"""Throughput, alert latency and memory of the megawatch worker on a simulated 1 GW campus.

One run, on the real embedded broker and the real chDB store (see docs/benchmarks.md):

1. pre-produce ``--seconds`` of campus telemetry (lz4, batched per hall, tick and kind);
2. baseline: a bare aiokafka consumer (own group) fetches and ``orjson.loads`` it all;
3. worker: ``python -m pipeline worker`` drains the same backlog into ClickHouse;
   readings/s from its first processed reading until every reading is stored;
4. live: the campus paced at ``--live-rate`` readings/s, plus a probe site toggling over
   and under its cap: alert latency send -> ``alerts`` topic, p50/p99;
5. memory: RSS per tracked rack as a slope over 32,000 racks added to the pure core in a
   fresh process (:mod:`rack_memory`: the target figure, ``rss_per_rack_kib``); the
   worker's own RSS after ``--rss-ticks`` more ticks of the known racks, then of
   ``--halls`` new halls (the difference is noise-bound: chDB and the allocator move it
   by MiB); and the live state of one hall with tracemalloc (:mod:`state_memory`).

    python benchmarks/throughput.py            # ~3-4 min; JSON in benchmarks/results/
    python benchmarks/throughput.py --workers 2   # + the drain with 1 and with 2 workers
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from alert_latency import Probe
from bench_output import add_smoke, result_path, smallest, write_json
from campus_telemetry import Campus, Load, generate, gpu_every_for_rate
from cpu_usage import CpuMeter, process_seconds
from kafka_load import Placement, baseline, produce_backlog
from phases import DrainStalled, drain, live, missing_messages
from rack_memory import measure as rack_memory
from rack_memory import parse as rack_memory_args
from scaling import phase_scaling
from state_memory import state_per_rack
from worker_process import WorkerProcess

from pipeline.broker.process import EmbeddedBroker
from pipeline.kafka.endpoint import KafkaEndpoint
from pipeline.kafka.site_specs import publish_specs
from pipeline.kafka.topics import GPU, LINK, RACK_POWER, ensure_topics
from pipeline.settings import load_settings
from pipeline.store import owner

TARGETS = {"readings_per_s": 100_000, "ratio": 0.3, "alert_p99_ms": 1000, "rss_per_rack_kib": 1.5}


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    import os

    return {
        "git": git_state(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "mem_kib": int(mem),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "versions": {
            p: version(p)
            for p in (
                "faust-streaming",
                "aiokafka",
                "chdb",
                "clickhouse-connect",
                "pydantic",
                "orjson",
            )
        },
    }


def git_state() -> dict[str, Any]:
    """The commit measured, and the files that differed from it (the code is moving)."""

    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], capture_output=True, text=True, check=False)
        return done.stdout.strip()

    return {
        "head": git("rev-parse", "--short", "HEAD"),
        "dirty": git("status", "--porcelain", "--", "pipeline", "sql").splitlines(),
    }


def now_ms() -> int:
    return int(time.time() * 1000)


def stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def phase_backlog(args: argparse.Namespace, campus: Campus) -> dict[str, Any]:
    t = time.perf_counter()
    load = generate(
        campus,
        args.seconds,
        now_ms() - args.seconds * 1000,
        gpu_every=args.gpu_every,
        batch=args.batch,
    )
    gen_s = time.perf_counter() - t
    args.gen_s_per_reading = gen_s / load.readings
    per_tick = {topic: n // args.seconds for topic, n in load.readings_by_topic().items()}
    return {
        "load": load,
        "info": {
            "seconds_of_telemetry": args.seconds,
            "readings": load.readings,
            "messages": len(load.messages),
            "json_mb": round(load.bytes / 1e6, 1),
            "readings_per_campus_second": per_tick,
            "generate_s": round(gen_s, 1),
        },
    }


def produce(bootstrap: str, load: Load, info: dict[str, Any]) -> list[Placement]:
    produce_s, placements = asyncio.run(produce_backlog(bootstrap, load.messages))
    info.update(produce_s=round(produce_s, 1), produced_at=stamp())
    print(f"backlog: {load.readings} readings in {len(load.messages)} messages", flush=True)
    return placements


def validated_readings() -> Any:
    """The second baseline's decode: the worker's own decoder (the columnar fast path,
    pydantic for whatever it is not sure of, event-time and key checks), nothing after it."""
    from datetime import UTC, datetime

    from pipeline.core.decode import MessageDecoder
    from pipeline.events import GpuSample, LinkCounters, RackPower

    decoders = {
        RACK_POWER: MessageDecoder(RackPower),
        GPU: MessageDecoder(GpuSample),
        LINK: MessageDecoder(LinkCounters),
    }

    def decode(record: Any) -> int:
        now = datetime.now(UTC)
        return len(decoders[record.topic].decode(record.value, record.key, now).events)

    return decode


def measure_baseline(bootstrap: str, load: Load, placements: list[Placement]) -> dict[str, Any]:
    base = asyncio.run(baseline(bootstrap, [RACK_POWER, GPU, LINK], load.readings))
    validated = asyncio.run(
        baseline(bootstrap, [RACK_POWER, GPU, LINK], load.readings, decode=validated_readings())
    )
    produced = {(t, p, o) for t, p, o, _ in placements}
    print(
        f"baseline: {base.readings_per_s:,.0f} readings/s (JSON only), "
        f"{validated.readings_per_s:,.0f} readings/s (validated)",
        flush=True,
    )
    return {
        "readings": base.readings,
        "messages": base.messages,
        "messages_not_seen": len(produced - base.seen),
        "records_not_produced": len(base.seen - produced),
        "seconds": round(base.seconds, 2),
        "join_s": round(base.join_s, 2),
        "readings_per_s": round(base.readings_per_s),
        "validated_readings": validated.readings,
        "validated_readings_per_s": round(validated.readings_per_s),
    }


def phase_live(
    args: argparse.Namespace,
    campus: Campus,
    probe: Probe,
    bootstrap: str,
    worker: WorkerProcess,
    meter: CpuMeter,
) -> dict[str, Any]:
    gpu_every = gpu_every_for_rate(campus, args.live_rate)
    seconds = int(2 + probe.stale_after_s + 1.5 + probe.transitions * probe.interval_s + 3)
    # Event time = send time: the first tick is due once the generation (timed on the
    # backlog, per reading) is done, plus a margin.
    gen_per_reading = args.gen_s_per_reading
    start_ms = now_ms() + int(1000 * (2.0 + 1.5 * gen_per_reading * args.live_rate * seconds))
    generating = process_seconds(os.getpid())
    load = generate(campus, seconds, start_ms, gpu_every=gpu_every, batch=args.batch, seed=2)
    generation_cpu_s = round(process_seconds(os.getpid()) - generating, 1)
    t0 = time.perf_counter() + (start_ms - now_ms()) / 1000
    # The CPU of the paced load only: the messages are encoded before it, while the
    # worker is idle, and a sending agent is another machine's CPU in production.
    meter.start()
    result = asyncio.run(live(bootstrap, worker, load.ticks, t0, probe))
    result["cpu_s"] = meter.stop()
    result["generation_cpu_s"] = generation_cpu_s
    result["gpu_every"] = gpu_every
    result["seconds"] = seconds
    return result


def settled_rss(worker: WorkerProcess, seconds: float = 3.0) -> int:
    """Median VmRSS over a few idle seconds (chDB merges and the allocator move it)."""
    samples = []
    for _ in range(int(seconds / 0.25)):
        samples.append(worker.memory_kib()["VmRSS"])
        time.sleep(0.25)
    return sorted(samples)[len(samples) // 2]


def phase_memory(
    args: argparse.Namespace, campus: Campus, extra: Campus, bootstrap: str, worker: WorkerProcess
) -> dict[str, Any]:
    """RSS after more ticks of known racks (volume only), then of new racks (volume + state)."""
    steps = {}
    for name, which in (("known_racks", campus), ("new_racks", extra)):
        stored = worker.stored_rows()
        rss_before = settled_rss(worker)
        load = generate(
            which, args.rss_ticks, now_ms(), gpu_every=args.gpu_every, batch=args.batch, seed=3
        )
        asyncio.run(produce_backlog(bootstrap, load.messages))
        drain(worker, stored, load.readings)
        rss_after = settled_rss(worker)
        steps[name] = {
            "readings": load.readings,
            "racks": which.racks,
            "rss_before_kib": rss_before,
            "rss_after_kib": rss_after,
            "growth_kib": rss_after - rss_before,
        }
    growth = steps["new_racks"]["growth_kib"] - steps["known_racks"]["growth_kib"]
    return {
        **steps,
        "ticks": args.rss_ticks,
        "per_new_rack_kib": round(growth / extra.racks, 2),
        "per_new_rack_kib_raw": round(steps["new_racks"]["growth_kib"] / extra.racks, 2),
    }


def worker_phases(
    args: argparse.Namespace,
    out: dict[str, Any],
    sites: tuple[Campus, Campus, Probe],
    bootstrap: str,
    worker: WorkerProcess,
    during: Callable[[], object] | None,
) -> None:
    """Drain the backlog (optionally under py-spy), then live load, then memory."""
    campus, extra, probe = sites
    store = owner.discover(worker.data_dir / "clickhouse")
    pids = {"worker": worker.pid, "broker": args.broker_pid}
    meter = CpuMeter({**pids, "store": store.pid} if store else pids).start()
    if args.profile:
        worker.start_profile(args.profile)
    out["worker"] = drain(worker, 0, out["backlog"]["readings"], during=during)
    if args.profile:
        out["profile"] = {"file": str(args.profile), "py_spy": worker.stop_profile()}
    out["worker"]["cpu_s"] = meter.stop()
    out["worker"]["rows"] = worker.count_rows()
    print(f"worker: {out['worker']['readings_per_s']:,} readings/s", flush=True)
    out["live"] = phase_live(args, campus, probe, bootstrap, worker, meter)
    print(f"latency: {out['live']['latency']['all_cap_alerts']}", flush=True)
    if args.rss_ticks:
        out["memory"] = phase_memory(args, campus, extra, bootstrap, worker)
    out["worker_dead_letters"] = worker.metrics().get("megawatch_dead_letters_total", 0)
    out["worker_memory_end_kib"] = worker.memory_kib()


def keep_off(cpu: int | None) -> None:
    """``--worker-cpu``: this process, and the broker and store server it starts (they
    inherit it), run on every CPU but ``cpu``."""
    if cpu is None:
        return
    cpus = os.sched_getaffinity(0)
    if cpu not in cpus or len(cpus) < 2:
        raise SystemExit(f"--worker-cpu {cpu}: this process may run on CPUs {sorted(cpus)}")
    pin_threads(os.getpid(), cpus - {cpu})


def pin_threads(pid: int, cpus: set[int]) -> None:
    """Every thread ``pid`` has now on ``cpus`` (threads started later inherit it)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        os.sched_setaffinity(int(tid), cpus)


def pin_worker(pid: int, cpu: int | None) -> None:
    if cpu is not None:
        pin_threads(pid, {cpu})


def run(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    campus = Campus(halls=args.halls, racks_per_hall=args.racks_per_hall)
    extra = Campus(halls=args.halls, racks_per_hall=args.racks_per_hall, prefix="gw-b-hall")
    probe = Probe(transitions=args.transitions)
    out: dict[str, Any] = {
        "started_at": stamp(),
        "machine": machine(),
        "targets": TARGETS,
        "parameters": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "campus": {
            "halls": campus.halls,
            "racks": campus.racks,
            "gpus": campus.gpus(),
            "cap_mw": campus.cap_mw_per_hall * campus.halls,
        },
    }
    keep_off(args.worker_cpu)
    with EmbeddedBroker(data_dir) as broker:
        bootstrap, args.broker_pid = broker.bootstrap, broker.pid
        settings = load_settings(data_dir=data_dir)
        ensure_topics(settings, KafkaEndpoint(bootstrap, True, broker.cluster_id))
        publish_specs(settings, [*campus.specs(), *extra.specs(), probe.spec()])
        backlog = phase_backlog(args, campus)
        load = backlog["load"]
        out["backlog"] = backlog["info"]
        placements: list[Placement] = []
        if not args.backlog_after_join:
            placements = produce(bootstrap, load, out["backlog"])
            out["baseline"] = measure_baseline(bootstrap, load, placements)
        worker = WorkerProcess(data_dir)
        try:
            out["worker_web_up_s"] = round(worker.start(), 1)
            pin_worker(worker.pid, args.worker_cpu)
            during = None
            if args.backlog_after_join:
                out["worker_ready_s"] = round(worker.wait_log("Worker ready"), 1)

                def during() -> None:
                    placements.extend(produce(bootstrap, load, out["backlog"]))

            worker_phases(args, out, (campus, extra, probe), bootstrap, worker, during)
            if args.backlog_after_join:
                out["baseline"] = measure_baseline(bootstrap, load, placements)
        except BaseException as exc:
            out["error"] = f"{type(exc).__name__}: {exc}"
            out["error_metrics"] = getattr(exc, "metrics", None)
            out["worker_log_tail"] = worker.tail(60)
            if isinstance(exc, DrainStalled) and worker.proc and worker.proc.poll() is None:
                out["worker_stacks"] = worker.dump_stacks()
                out["missing_messages"] = missing_messages(worker, placements)
            write_json(args.out.with_suffix(".failed.json"), out)
            raise
        finally:
            out["worker_exit"] = worker.stop()
            worker.stop_profile()
            shutil.copyfile(worker.log, args.out.with_suffix(".worker.log"))
    if args.rss_ticks:
        out["state_memory"] = state_per_rack(gpu_every=args.gpu_every, batch=args.batch)
        out["rack_memory"] = rack_memory(rack_memory_args(["--halls", "32"]))
    if args.workers > 1:
        specs = [*campus.specs(), probe.spec()]
        out["scaling"] = phase_scaling(args.workers, load.messages, load.readings, specs)
    out["finished_at"] = stamp()
    return out


def summary(r: dict[str, Any]) -> dict[str, Any]:
    w, b = r["worker"]["readings_per_s"], r["baseline"]["readings_per_s"]
    lat = r["live"]["latency"]["all_cap_alerts"]
    mem = r.get("memory", {})
    v = r["baseline"].get("validated_readings_per_s")
    return {
        "worker_readings_per_s": w,
        "baseline_readings_per_s": b,
        "ratio": round(w / b, 3),
        "baseline_validated_readings_per_s": v,
        "ratio_to_validated": round(w / v, 3) if v else None,
        "alert_p50_ms": lat.get("p50_ms"),
        "alert_p99_ms": lat.get("p99_ms"),
        "alerts_measured": lat.get("n"),
        "live_offered_readings_per_s": r["live"]["offered_readings_per_s"],
        "live_backpressure_s": _paused_live(r["live"]["samples"]),
        "rss_ready_mib": round(r["worker"]["rss_at_start_kib"]["VmRSS"] / 1024),
        "rss_after_backlog_mib": round(r["worker"]["rss_at_end_kib"]["VmRSS"] / 1024),
        # the target: slope of RSS over racks added to the core alone (rack_memory.py)
        "rss_per_rack_kib": r.get("rack_memory", {}).get("rss_per_rack_kib"),
        "rss_per_rack_r2": r.get("rack_memory", {}).get("rss_r2"),
        # the whole worker, two RSS reads: noise-bound (chDB, sink buffers), not the target
        "worker_rss_per_new_rack_kib_noisy": mem.get("per_new_rack_kib"),
        "worker_rss_per_new_rack_kib_raw": mem.get("per_new_rack_kib_raw"),
        "state_per_rack_kib": r.get("state_memory", {}).get("kib_per_rack"),
        "foreign_cpu_s_drain": r["worker"]["cpu_s"]["foreign_cpu_s"],
        "foreign_cpu_s_live": r["live"]["cpu_s"]["foreign_cpu_s"],
        **_scaling_summary(r.get("scaling")),
        "targets": TARGETS,
    }


def _paused_live(samples: list[dict[str, Any]]) -> float | None:
    """Seconds the store held the worker back over the live phase (pauses that ended)."""
    if not samples:
        return None
    return round(samples[-1]["backpressure_s"] - samples[0]["backpressure_s"], 1)


def _scaling_summary(scaling: dict[str, Any] | None) -> dict[str, Any]:
    if not scaling:
        return {}
    runs = scaling["runs"]
    return {
        "scaling_workers": scaling["workers"],
        "scaling_ratio": scaling["ratio"],
        "scaling_readings_per_s": {n: run["readings_per_s"] for n, run in runs.items()},
        "scaling_cpu_s": {n: run["cpu_s"] for n, run in runs.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=30, help="backlog: campus seconds")
    parser.add_argument("--halls", type=int, default=8, help="sites of the campus")
    parser.add_argument("--racks-per-hall", type=int, default=1000)
    parser.add_argument("--gpu-every", type=int, default=10, help="GPU poll period, ticks")
    parser.add_argument("--batch", type=int, default=1000, help="events per message, at most")
    parser.add_argument("--live-rate", type=float, default=50_000, help="readings/s, live")
    parser.add_argument("--transitions", type=int, default=40, help="probe fire/resolve batches")
    parser.add_argument("--rss-ticks", type=int, default=10, help="0: skip the memory phase")
    parser.add_argument("--profile", type=Path, help="py-spy output of the drain (.svg/.txt)")
    parser.add_argument(
        "--backlog-after-join",
        action="store_true",
        help="produce the backlog once the worker is ready (works around "
        "the startup race that skips messages; the producer then overlaps)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="N > 1: also drain the backlog with 1 and with N workers (fresh broker and "
        "store each) and report the ratio and the CPU per process",
    )
    parser.add_argument(
        "--worker-cpu",
        type=int,
        help="run the worker on this CPU alone, and the benchmark (load generator), the "
        "broker and the store server on the others",
    )
    parser.add_argument("--out", type=Path, default=result_path("throughput.json"))
    add_smoke(parser)
    args = smallest(
        parser.parse_args(),
        seconds=2,
        halls=1,
        racks_per_hall=20,
        batch=100,
        live_rate=500.0,
        transitions=2,
        rss_ticks=0,
    )
    # a fresh clone has no results folder: the worker's log is copied there even when
    # the run fails, before any JSON is written
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="megawatch-bench-") as tmp:
        result = run(args, Path(tmp))
    result["summary"] = summary(result)
    write_json(args.out, result)
    print(json.dumps(result["summary"], indent=2))


if __name__ == "__main__":
    main()
