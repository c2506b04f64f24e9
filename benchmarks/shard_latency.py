"""Site-cap alert latency of a sharded site (``SITE/SHARD`` keys) next to an unsharded one.

Two workers share a fresh embedded broker and store (``--runs`` times, default 3), under
a paced background load: the campus of ``examples/campus-1gw.yaml`` at ``--load-scale``,
keyed by row. Two probe sites, each with a 1 MW cap and the ``for`` durations at 0, take
turns crossing their cap and back, one transition per ``--interval`` s
(:mod:`alert_latency`: each batch's site total is unique, so every alert is matched to
the batch that caused it by its value):

* ``plain``: one key, 20 racks; shard stage and site stage in one process;
* ``sharded``: ``--shards`` shard keys of 5 racks; all report every interval, and one
  shard (the *toggle*), chosen among those whose owner is NOT the owner of the site
  stage, carries each transition: its partial crosses workers over the partials topic
  (the hop this issue adds: coalescing interval, produce, fetch, site evaluation).

Latency: send of the completing batch -> the alert on the ``alerts`` topic, p50/p99 per
run and over all runs. ``python benchmarks/shard_latency.py`` (~5 min; JSON in
benchmarks/results/shard_latency.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from alert_latency import CAP_RULES, AlertWatch, Probe, latencies, quantiles
from bench_output import add_smoke, result_path, smallest, write_json
from campus_shards import campus
from campus_telemetry import Message
from kafka_load import paced, producer
from throughput import machine
from worker_process import WorkerProcess, WorkerTeam

from pipeline.broker.process import EmbeddedBroker
from pipeline.events import SiteSpec
from pipeline.kafka.endpoint import KafkaEndpoint
from pipeline.kafka.site_specs import publish_specs
from pipeline.kafka.topics import RACK_POWER, ensure_topics, key_partition
from pipeline.settings import load_settings
from pipeline.sources.sim.simulator import FleetSimulator, SimOptions, SimSource
from pipeline.store import owner

PARTITIONS = 6
OTHERS_MW = 0.3  # the sharded probe's shards other than the toggle, together


@dataclass(frozen=True)
class ShardedProbe(Probe):
    """A probe site of ``shards`` keys; ``toggle`` carries the transitions."""

    site: str = "probe-shard"
    shards: int = 4
    racks_per_shard: int = 5

    def names(self) -> list[str]:
        """``shards`` names on as many distinct partitions: two workers hold three of
        the six each, so at least one of four shards is away from the site stage's
        worker whatever the assignment (s0..s3 alone land on partitions 3, 4, 4, 5,
        all on one worker when it holds 3-5)."""
        names: dict[int, str] = {}
        for i in range(100 * PARTITIONS):
            names.setdefault(key_partition(f"{self.site}/s{i}".encode(), PARTITIONS), f"s{i}")
            if len(names) == self.shards:
                break
        return sorted(names.values(), key=lambda n: int(n[1:]))

    def shard_batch(self, shard: str, shard_mw: float) -> bytes:
        ts, watts = int(time.time() * 1000), shard_mw * 1e6 / self.racks_per_shard
        events = [
            {"site": self.site, "rack": f"{shard}-{r}", "ts": ts, "power_w": watts}
            for r in range(self.racks_per_shard)
        ]
        return orjson.dumps({"events": events})


def background(load_scale: float, seconds: int, start_ms: int) -> list[list[Message]]:
    fleet = campus(load_scale, rows_per_hall=4)
    options = SimOptions(seed=2, interval_s=1.0, start_ms=start_ms)
    source = SimSource(FleetSimulator.from_names(fleet, ["steady"], options))
    ticks = []
    for _ in range(seconds):
        _, out = source.tick_messages()
        ticks.append(
            [Message(m.topic, m.key, m.value, len(orjson.loads(m.value)["events"])) for m in out]
        )
    return ticks


async def probes(
    bootstrap: str, plain: Probe, sharded: ShardedProbe, team: WorkerTeam, warmup_s: float
) -> tuple[dict[int, float], dict[int, float], dict[str, Any]]:
    """Warm both probes up under their caps, pick the toggle shard, then alternate."""
    prod = producer(bootstrap, linger_ms=0)
    await prod.start()
    shares = {name: OTHERS_MW / (sharded.shards - 1) for name in sharded.names()}
    placement: dict[str, Any] = {}

    def key(shard: str) -> bytes:
        return f"{sharded.site}/{shard}".encode()

    async def send_others(toggle: str | None) -> None:
        """Every shard but the toggle, at its constant share (they keep reporting)."""
        for name in sharded.names():
            if name != toggle:
                await prod.send(RACK_POWER, sharded.shard_batch(name, shares[name]), key=key(name))
        await prod.flush()

    sent_plain: dict[int, float] = {}
    sent_sharded: dict[int, float] = {}
    try:
        until = time.perf_counter() + warmup_s
        while time.perf_counter() < until:
            await prod.send_and_wait(
                RACK_POWER, plain.batch(plain.cap_mw * 0.4), key=plain.site.encode()
            )
            await send_others(None)
            await asyncio.sleep(plain.interval_s)
        toggle, placement = pick_toggle(team, sharded)
        for i in range(1, plain.transitions + 1):
            t = time.perf_counter()
            sent_plain[i] = t
            await prod.send_and_wait(
                RACK_POWER, plain.batch(plain.total_mw(i)), key=plain.site.encode()
            )
            await asyncio.sleep(plain.interval_s / 2)
            toggle_mw = sharded.total_mw(i) - OTHERS_MW
            await send_others(toggle)
            sent_sharded[i] = time.perf_counter()
            await prod.send_and_wait(
                RACK_POWER, sharded.shard_batch(toggle, toggle_mw), key=key(toggle)
            )
            await asyncio.sleep(max(0.0, t + plain.interval_s - time.perf_counter()))
    finally:
        await prod.stop()
    return sent_plain, sent_sharded, placement


def pick_toggle(team: WorkerTeam, sharded: ShardedProbe) -> tuple[str, dict[str, Any]]:
    """A shard whose owner is not the site stage's owner (the hop is measured)."""
    states = {
        w.name: httpx.get(f"http://127.0.0.1:{w.port}/api/state", timeout=10).json()
        for w in team.workers
    }
    stage = next(n for n, s in states.items() if sharded.site in {x["site"] for x in s["sites"]})
    owner_of = {
        k.split("/", 1)[1]: n
        for n, s in states.items()
        for k in s["keys"]
        if k.startswith(f"{sharded.site}/")
    }
    remote = sorted(shard for shard, name in owner_of.items() if name != stage)
    if not remote:
        raise RuntimeError(f"every shard is on the site stage's worker: {owner_of}")
    placement = {
        "stage_worker": stage,
        "stage_partition": key_partition(sharded.site.encode(), PARTITIONS),
        "shard_workers": owner_of,
        "shard_partitions": {
            s: key_partition(f"{sharded.site}/{s}".encode(), PARTITIONS) for s in owner_of
        },
        "toggle": remote[0],
    }
    return remote[0], placement


def one_run(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    plain = Probe(site="probe-plain", transitions=args.transitions, interval_s=args.interval)
    sharded = ShardedProbe(
        transitions=args.transitions, interval_s=args.interval, shards=args.shards
    )
    fleet = campus(args.load_scale, rows_per_hall=4)
    with EmbeddedBroker(data_dir) as broker:
        settings = load_settings(data_dir=data_dir, kafka_partitions=PARTITIONS)
        ensure_topics(settings, KafkaEndpoint(broker.bootstrap, True, broker.cluster_id))
        specs = [
            *fleet.site_specs(),
            plain.spec(),
            SiteSpec(site=sharded.site, cap_mw=1.0, stale_after_s=5.0),
        ]
        publish_specs(settings, specs)
        env = {"MEGAWATCH_KAFKA_PARTITIONS": str(PARTITIONS)}
        team = WorkerTeam([WorkerProcess(data_dir, env, name=f"worker-{i + 1}") for i in (0, 1)])
        try:
            out: dict[str, Any] = {"start_s": round(team.start(), 1)}
            out["settle_s"] = round(team.wait_assigned(), 1)
            seconds = int(plain.stale_after_s + 3 + args.transitions * args.interval + 6)
            start_ms = int(time.time() * 1000) + 3000
            ticks = background(args.load_scale, seconds, start_ms) if args.load_scale else []
            t0 = time.perf_counter() + (start_ms - time.time() * 1000) / 1000

            async def run() -> tuple[Any, ...]:
                watches = [AlertWatch(broker.bootstrap, p.site) for p in (plain, sharded)]
                watchers = [asyncio.create_task(w.run()) for w in watches]
                load = asyncio.create_task(paced(broker.bootstrap, ticks, t0)) if ticks else None
                await asyncio.sleep(max(0.0, t0 + 1.0 - time.perf_counter()))
                sent = await probes(
                    broker.bootstrap, plain, sharded, team, plain.stale_after_s + 2.5
                )
                offered = await load if load is not None else None
                await asyncio.sleep(2.0)
                for w in watches:
                    w.stopping = True
                await asyncio.gather(*watchers)
                return sent, watches, offered

            (sent_plain, sent_sharded, placement), (w_plain, w_sharded), offered = asyncio.run(
                run()
            )
            out["placement"] = placement
            out["offered_readings_per_s"] = round(offered.readings_per_s) if offered else 0
            out["plain"] = latencies(plain, sent_plain, w_plain)
            out["sharded"] = latencies(sharded, sent_sharded, w_sharded)
            out["raw"] = {
                "plain": raw(plain, sent_plain, w_plain),
                "sharded": raw(sharded, sent_sharded, w_sharded),
            }
            m = [w.metrics() for w in team.workers]
            out["partials"] = {
                o: int(sum(x.get(f'megawatch_partials_total{{outcome="{o}"}}', 0) for x in m))
                for o in ("sent", "applied", "ignored")
            }
            return out
        finally:
            team.stop()
            owner.stop(data_dir / "clickhouse")


def raw(probe: Probe, sent: dict[int, float], watch: AlertWatch) -> list[float]:
    """Every matched latency (s) of the run, for the quantiles over all runs."""
    out = []
    for i, t_send in sent.items():
        status = "firing" if i % 2 else "resolved"
        for rule in CAP_RULES:
            hit = watch.arrivals.get((rule, probe.total_mw(i)))
            if hit is not None and hit[1] == status:
                out.append(hit[0] - t_send)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--transitions", type=int, default=40)
    parser.add_argument("--interval", type=float, default=0.5, help="s between transitions")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--load-scale", type=float, default=0.02, help="0: no background load")
    parser.add_argument("--out", type=Path, default=result_path("shard_latency.json"))
    add_smoke(parser)
    args = smallest(parser.parse_args(), runs=1, transitions=4, load_scale=0.005)
    if not 2 <= args.shards <= PARTITIONS:
        parser.error(f"--shards must be 2 to {PARTITIONS}: each shard on a partition of its own")
    result: dict[str, Any] = {
        "machine": machine(),
        "parameters": {k: str(v) for k, v in vars(args).items()},
        "runs": [],
    }
    for n in range(args.runs):
        with tempfile.TemporaryDirectory(prefix=f"megawatch-shardlat-{n}-") as tmp:
            run = one_run(args, Path(tmp))
        result["runs"].append(run)
        print(
            f"run {n + 1}: plain {run['plain']['all_cap_alerts']}, "
            f"sharded {run['sharded']['all_cap_alerts']}",
            flush=True,
        )
    for kind in ("plain", "sharded"):
        values = [v for run in result["runs"] for v in run["raw"][kind]]
        result[kind] = quantiles(values)
    for run in result["runs"]:
        run.pop("raw")
    write_json(args.out, result)
    print(json.dumps({k: result[k] for k in ("plain", "sharded")}, indent=2))


if __name__ == "__main__":
    main()
