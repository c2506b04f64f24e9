"""Alert latency and alert exactness while the probe site's partition moves (issue 12).

The live phase of ``throughput.py`` (paced campus load + the alert probe), but with two
workers in one group, and partitions moving part-way through:

1. ``--kill-after`` s into the probe's transitions, the worker that owns the probe site's
   partition is SIGKILLed: the group notices after the session timeout, the survivor
   takes the partition, recovers the alert states from their changelog and warms the
   site up for one staleness window (``Probe.stale_after_s``) before any cap alert may
   fire or resolve;
2. ``--join-after`` s after the kill, a third worker starts and joins (another,
   eager, rebalance: every partition is revoked and assigned again).

Each probe batch completes a cap rule's condition (fire or resolve, ``for`` = 0). A batch
is in a *window* when it was sent between the kill and the end of the survivor's warm-up
(reassignment seen + staleness + one evaluation tick), or between the new worker's launch
and the end of the warm-up after its assignment; otherwise it is *steady*. Reported:
latency over all alerts and per class; missing alerts (steady: lost; in a window:
superseded by a later batch of the same window, since only the condition at the end of
the warm-up can fire); duplicated alerts (the same ``fingerprint:seq`` delivered twice).

    python benchmarks/latency_moving.py     # JSON in benchmarks/results/latency_moving.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from alert_latency import CAP_RULES, AlertWatch, Probe, quantiles
from bench_output import add_smoke, result_path, smallest, write_json
from campus_telemetry import Campus, generate, gpu_every_for_rate
from kafka_load import paced, producer
from worker_process import WorkerProcess, WorkerTeam

from pipeline.broker.process import EmbeddedBroker
from pipeline.kafka.endpoint import KafkaEndpoint
from pipeline.kafka.site_specs import publish_specs
from pipeline.kafka.topics import RACK_POWER, ensure_topics
from pipeline.settings import load_settings
from pipeline.store import owner

EVAL_TICK_S = 1.0  # MEGAWATCH_EVAL_INTERVAL_S default: warm-up ends on a tick


class Moves:
    """Kills the probe partition's owner, then starts a new worker; notes the times."""

    def __init__(self, team: WorkerTeam, data_dir: Path, probe: Probe) -> None:
        self.team, self.data_dir, self.probe = team, data_dir, probe
        self.at: dict[str, float] = {}
        self.info: dict[str, Any] = {}
        self.counts_at_join: dict[str, dict[str, int]] = {}

    def owner_of(self, partition: int) -> WorkerProcess:
        """The live worker that counted readings of ``partition`` (the probe's key)."""
        counts = self.team.partition_readings()
        for worker in self.team.workers:
            alive = worker.proc is not None and worker.proc.poll() is None
            if alive and counts[worker.name].get(str(partition), 0) > 0:
                return worker
        raise RuntimeError(f"no live worker owns partition {partition}: {counts}")

    async def kill_owner(self, partition: int) -> None:
        victim = self.owner_of(partition)
        survivors = [w for w in self.team.workers if w is not victim]
        # assignment counts include changelog and standby partitions: the takeover is
        # seen as the survivor's count growing, not reaching a total
        held = survivors[0].assigned_partitions()
        self.at["kill"] = time.perf_counter()
        os.kill(victim.pid, signal.SIGKILL)
        assert victim.proc is not None
        victim.proc.wait()
        self.team.workers = survivors
        self.info["killed"] = victim.name
        self.at["reassigned"] = await self._until(lambda: survivors[0].assigned_partitions() > held)

    async def join(self, partition: int) -> None:
        new = WorkerProcess(self.data_dir, name="worker-3")
        self.at["join"] = time.perf_counter()
        await asyncio.to_thread(new.start)
        self.team.workers.append(new)
        self.at["joined"] = await self._until(lambda: new.assigned_partitions() > 0)
        self.info["joined"] = new.name
        self.counts_at_join = self.team.partition_readings()

    def owner_after_join(self, partition: int) -> list[str]:
        """Workers whose readings of ``partition`` grew since the join settled."""
        now, key = self.team.partition_readings(), str(partition)
        before = self.counts_at_join
        return [n for n, c in now.items() if c.get(key, 0) > before.get(n, {}).get(key, 0)]

    async def _until(self, done: Any, timeout: float = 120) -> float:
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            if await asyncio.to_thread(done):
                return time.perf_counter()
            await asyncio.sleep(0.1)
        raise RuntimeError(f"partitions did not move in {timeout} s")

    def windows(self) -> list[tuple[str, float, float]]:
        warm = self.probe.stale_after_s + EVAL_TICK_S
        return [
            ("kill", self.at["kill"], self.at["reassigned"] + warm),
            ("join", self.at["join"], self.at["joined"] + warm),
        ]


async def send_probe(
    bootstrap: str, probe: Probe, stop: asyncio.Event, sent: dict[int, float], first: Any
) -> int:
    """Warm-up batches under the cap, then alternating batches until ``stop``; returns the
    probe's partition (also resolved into ``first`` as soon as it is known)."""
    prod = producer(bootstrap, linger_ms=0)
    await prod.start()
    key = probe.site.encode()
    try:
        until = time.perf_counter() + probe.stale_after_s + 1.5
        while time.perf_counter() < until:
            meta = await prod.send_and_wait(RACK_POWER, probe.batch(probe.cap_mw * 0.4), key=key)
            if not first.done():
                first.set_result(meta.partition)
            await asyncio.sleep(probe.interval_s)
        i = 0
        while not stop.is_set():
            i += 1
            sent[i] = time.perf_counter()
            await prod.send_and_wait(RACK_POWER, probe.batch(probe.total_mw(i)), key=key)
            await asyncio.sleep(max(0.0, sent[i] + probe.interval_s - time.perf_counter()))
    finally:
        await prod.stop()
    return int(first.result())


async def choreography(args: argparse.Namespace, moves: Moves, bootstrap: str) -> dict[str, Any]:
    probe = moves.probe
    watch = AlertWatch(bootstrap, probe.site)
    watcher = asyncio.create_task(watch.run())
    stop, sent = asyncio.Event(), dict[int, float]()
    first: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    sender = asyncio.create_task(send_probe(bootstrap, probe, stop, sent, first))
    partition = await first
    while not sent:
        await asyncio.sleep(0.1)
    await asyncio.sleep(args.kill_after)
    await moves.kill_owner(partition)
    await asyncio.sleep(max(0.0, moves.at["kill"] + args.join_after - time.perf_counter()))
    await moves.join(partition)
    await asyncio.sleep(args.tail)
    stop.set()
    await sender
    await asyncio.sleep(3.0)  # the last alerts in flight
    watch.stopping = True
    await watcher
    moves.info["probe_partition"] = partition
    moves.info["probe_partition_owners_after_join"] = moves.owner_after_join(partition)
    return classify(probe, sent, watch, moves.windows())


def classify(
    probe: Probe, sent: dict[int, float], watch: AlertWatch, windows: list[tuple[str, float, float]]
) -> dict[str, Any]:
    """Latency per class of batch; lost, superseded and duplicated alerts."""
    lat: dict[str, list[float]] = {"all": [], "steady": []}
    missing: dict[str, list[str]] = {"steady": []}
    matched_values = set()
    for i, t_send in sent.items():
        where = next((name for name, a, b in windows if a <= t_send <= b), "steady")
        status = "firing" if i % 2 else "resolved"
        for rule in CAP_RULES:
            hit = watch.arrivals.get((rule, probe.total_mw(i)))
            if hit is None or hit[1] != status:
                missing.setdefault(where, []).append(f"{rule}#{i}")
                continue
            matched_values.add((rule, probe.total_mw(i)))
            for name in ("all", where):
                lat.setdefault(name, []).append(hit[0] - t_send)
    dupes = {k: n for k, n in watch.deliveries.items() if n > 1}
    t0 = min(sent.values(), default=0.0)
    return {
        "batches_sent": len(sent),
        "latency": {name: quantiles(values) for name, values in lat.items()},
        "lost_steady": missing.pop("steady"),
        "superseded_in_window": {k: len(v) for k, v in missing.items()},
        "duplicated": dupes,
        "duplicated_count": sum(n - 1 for n in dupes.values()),
        "probe_alert_events": sum(watch.deliveries.values()),
        "unattributed_alerts": len(set(watch.arrivals) - matched_values),
        "windows_s": {n: [round(a - t0, 1), round(b - t0, 1)] for n, a, b in windows},
        "other_alerts_seen": watch.other_alerts,
    }


def run(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    campus = Campus(halls=args.halls, racks_per_hall=args.racks_per_hall)
    probe = Probe()
    with EmbeddedBroker(data_dir) as broker:
        settings = load_settings(data_dir=data_dir)
        ensure_topics(settings, KafkaEndpoint(broker.bootstrap, True, broker.cluster_id))
        publish_specs(settings, [*campus.specs(), probe.spec()])
        team = WorkerTeam([WorkerProcess(data_dir, name=f"worker-{i + 1}") for i in (0, 1)])
        moves = Moves(team, data_dir, probe)
        try:
            out: dict[str, Any] = {"start_s": round(team.start(), 1)}
            out["settle_s"] = round(team.wait_assigned(), 1)
            gpu_every = gpu_every_for_rate(campus, args.live_rate)
            t = time.perf_counter()
            generate(campus, 2, int(time.time() * 1000), gpu_every=gpu_every, batch=args.batch)
            gen_s = (time.perf_counter() - t) * args.seconds / 2
            # event time = send time: the first tick is due once the generation is done
            start_ms = int(time.time() * 1000 + 1000 * (2.0 + 1.5 * gen_s))
            load = generate(
                campus, args.seconds, start_ms, gpu_every=gpu_every, batch=args.batch, seed=2
            )
            t0 = time.perf_counter() + (start_ms - time.time() * 1000) / 1000

            async def both() -> tuple[Any, dict[str, Any]]:
                paced_load = asyncio.create_task(paced(broker.bootstrap, load.ticks, t0))
                await asyncio.sleep(max(0.0, t0 + 2.0 - time.perf_counter()))
                result = await choreography(args, moves, broker.bootstrap)
                return await paced_load, result

            offered, out["probe"] = asyncio.run(both())
            out["offered_readings_per_s"] = round(offered.readings_per_s)
            out["sender_late_s_max"] = round(offered.late_s_max, 3)
            out["moves"] = moves.info
            return out
        except BaseException:
            for log in sorted(data_dir.glob("worker-*.log")):
                print(
                    f"--- {log.name}", *log.read_text(errors="replace").splitlines()[-30:], sep="\n"
                )
            raise
        finally:
            team.stop()
            owner.stop(data_dir / "clickhouse")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--halls", type=int, default=8)
    parser.add_argument("--racks-per-hall", type=int, default=1000)
    parser.add_argument("--live-rate", type=float, default=50_000, help="readings/s")
    parser.add_argument("--batch", type=int, default=1000, help="events per message, at most")
    parser.add_argument("--seconds", type=int, default=80, help="campus seconds of live load")
    parser.add_argument("--kill-after", type=float, default=10.0, help="s of transitions")
    parser.add_argument("--join-after", type=float, default=25.0, help="s after the kill")
    parser.add_argument("--tail", type=float, default=20.0, help="s after the join settled")
    parser.add_argument("--out", type=Path, default=result_path("latency_moving.json"))
    add_smoke(parser)
    args = smallest(
        parser.parse_args(),
        halls=1,
        racks_per_hall=20,
        live_rate=500.0,
        seconds=40,
        kill_after=2.0,
        join_after=4.0,
        tail=2.0,
    )
    result: dict[str, Any] = {"parameters": {k: str(v) for k, v in vars(args).items()}}
    result["probe_stale_after_s"] = Probe().stale_after_s
    with tempfile.TemporaryDirectory(prefix="megawatch-moving-") as tmp:
        result.update(run(args, Path(tmp)))
    write_json(args.out, result)
    print(json.dumps({k: result["probe"][k] for k in ("latency", "duplicated_count")}, indent=2))
    print(json.dumps({"lost": result["probe"]["lost_steady"], **result["moves"]}))


if __name__ == "__main__":
    main()
