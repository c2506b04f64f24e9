"""Samples/s through `megawatch gateway`: Prometheus remote_write into stored rows.

One run, on the real embedded broker, a real worker and the real embedded store:

1. load: ``--hosts`` GPU nodes as Prometheus scrapes them, ``--scrapes`` times 15 s
   apart: per host dcgm-exporter's GPU series (7 per GPU) and node_exporter's netdev
   counters (6 per interface, ``--links`` interfaces mapped to links);
2. baseline: the *same events* (made by the gateway's own mapper, in this process,
   before timing) published directly with kafka-python as agents and `megawatch
   publish` do, lz4, acks=all; time from the first send until the worker stored all;
3. gateway: ``python -m pipeline gateway`` takes the load as remote_write requests of
   at most ``--max-samples`` samples (snappy protobuf, encoded before timing), sent by
   ``--senders`` concurrent connections (Prometheus' shards); time from the first
   request until the worker stored every event;
4. the ratio of the two event rates, and the CPU seconds of every process (gateway,
   worker, store server, broker, this client) per phase, and of everything else.

    python benchmarks/gateway.py              # ~1-2 min; JSON in benchmarks/results/
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from bench_output import add_smoke, result_path, smallest, write_json
from cpu_usage import CpuMeter
from throughput import machine, stamp
from worker_process import WorkerProcess

from pipeline.broker.process import EmbeddedBroker, free_port
from pipeline.gateway import remote_write
from pipeline.gateway.joins import Joiner
from pipeline.gateway.mapper import SeriesMapper
from pipeline.gateway.series import Series
from pipeline.gateway.service import load_places
from pipeline.sources.base import encode_batches
from pipeline.store.server_files import read_discovery

GPUS = 8
FIELDS = {
    "DCGM_FI_DEV_GPU_UTIL": lambda n, g: (n * 7 + g) % 100,
    "DCGM_FI_DEV_POWER_USAGE": lambda n, g: 300.5 + n + g,
    "DCGM_FI_DEV_GPU_TEMP": lambda n, g: 40 + n % 30,
    "DCGM_FI_DEV_FB_USED": lambda n, g: 1000 + n,
    "DCGM_FI_DEV_FB_FREE": lambda n, g: 80000 - n,
    "DCGM_FI_DEV_FB_RESERVED": lambda n, g: 500,
    "DCGM_FI_DEV_POWER_MGMT_LIMIT": lambda n, g: 700,
}
NET = {
    "node_network_transmit_packets_total": 1000,
    "node_network_transmit_drop_total": 1,
    "node_network_receive_packets_total": 900,
    "node_network_receive_drop_total": 2,
    "node_network_receive_errs_total": 0,
    "node_network_transmit_errs_total": 0,
}


def load(site: str, hosts: int, links: int, scrapes: int, start_ms: int) -> list[list[Series]]:
    """Each scrape's series, as Prometheus would send them (host labels, site label)."""
    out = []
    for n in range(scrapes):
        ts = start_ms + n * 15_000
        series = []
        for h in range(hosts):
            host = f"gpu-{h:04d}"
            for g in range(GPUS):
                labels = {"site": site, "Hostname": host, "gpu": str(g), "modelName": "H100"}
                series += [Series(name, labels, [(ts, f(n, g))]) for name, f in FIELDS.items()]
            for i in range(links):
                labels = {"site": site, "device": f"eth{i}", "instance": f"{host}:9100"}
                series += [
                    Series(name, labels, [(ts, base * (n + 1))]) for name, base in NET.items()
                ]
        out.append(series)
    return out


def map_file(path: Path, hosts: int, links: int) -> Path:
    lines = ["links:"]
    for h in range(hosts):
        for i in range(links):
            lines.append(f"  gpu-{h:04d}/eth{i}: {{link: l-{h:04d}-{i}, class: fabric}}")
    path.write_text("\n".join(lines) + "\n")
    return path


def events_of(scrapes: list[list[Series]], places: Path) -> list[tuple[str, dict[str, Any]]]:
    mapping, _ = load_places(places)
    mapper, joiner = SeriesMapper(mapping), Joiner(30)
    out = []
    for series in scrapes:
        out += joiner.absorb(mapper.map(series), 0).events
    return out


def wait_stored(worker: WorkerProcess, before: int, expected: int, timeout: float = 600) -> float:
    started = time.monotonic()
    while worker.stored_rows() - before < expected:
        worker.check_alive()
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"stored {worker.stored_rows() - before} of {expected}")
        time.sleep(0.05)
    return time.perf_counter()


def phase_direct(
    worker: WorkerProcess, bootstrap: str, events: list[tuple[str, dict[str, Any]]], pids: dict
) -> dict[str, Any]:
    from kafka import KafkaProducer

    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for kind, event in events:
        grouped.setdefault((kind, event["site"]), []).append(event)
    messages = [m for (k, s), evs in grouped.items() for m in encode_batches(k, s, evs)]
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", compression_type="lz4", linger_ms=5
    )
    before = worker.stored_rows()
    meter = CpuMeter(pids).start()
    started = time.perf_counter()
    for m in messages:
        producer.send(m.topic, key=m.key, value=m.value)
    producer.flush()
    done = wait_stored(worker, before, len(events))
    cpu = meter.stop()
    producer.close()
    seconds = done - started
    return {
        "events": len(events),
        "messages": len(messages),
        "seconds": round(seconds, 2),
        "events_per_s": round(len(events) / seconds),
        "cpu_s": cpu,
    }


def phase_gateway(
    worker: WorkerProcess,
    url: str,
    bodies: list[bytes],
    samples: int,
    events: int,
    senders: int,
    pids: dict,
) -> dict[str, Any]:
    headers = {
        "Content-Encoding": "snappy",
        "Content-Type": "application/x-protobuf",
        "X-Prometheus-Remote-Write-Version": "0.1.0",
    }
    queue = list(reversed(bodies))
    lock = threading.Lock()
    retries = [0]

    def sender() -> None:
        with httpx.Client(timeout=60) as client:
            while True:
                with lock:
                    if not queue:
                        return
                    body = queue.pop()
                while client.post(url, content=body, headers=headers).status_code != 204:
                    retries[0] += 1  # a 503: retried, as Prometheus does
                    time.sleep(0.1)

    before = worker.stored_rows()
    meter = CpuMeter(pids).start()
    started = time.perf_counter()
    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    answered = time.perf_counter()
    done = wait_stored(worker, before, events)
    cpu = meter.stop()
    seconds = done - started
    return {
        "requests": len(bodies),
        "samples": samples,
        "events": events,
        "retried_requests": retries[0],
        "answered_seconds": round(answered - started, 2),
        "seconds": round(seconds, 2),
        "samples_per_s": round(samples / seconds),
        "events_per_s": round(events / seconds),
        "samples_per_gateway_cpu_s": round(samples / max(cpu["gateway"], 0.01)),
        "cpu_s": cpu,
    }


def requests_of(scrapes: list[list[Series]], max_samples: int) -> list[bytes]:
    bodies = []
    for series in scrapes:
        for i in range(0, len(series), max_samples):
            bodies.append(remote_write.encode(series[i : i + max_samples]))
    return bodies


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    data = tmp / "data"
    places = map_file(tmp / "map.yaml", args.hosts, args.links)
    start_ms = int(time.time() * 1000) - args.scrapes * 15_000
    direct = load("direct-1", args.hosts, args.links, args.scrapes, start_ms)
    through = load("gateway-1", args.hosts, args.links, args.scrapes, start_ms)
    direct_events = events_of(direct, places)
    bodies = requests_of(through, args.max_samples)
    samples = sum(len(s) for s in through)
    out: dict[str, Any] = {"started": stamp(), "machine": machine(), "args": vars(args)}
    out["load"] = {"samples": samples, "events": len(direct_events), "requests": len(bodies)}
    with EmbeddedBroker(data) as broker:
        worker = WorkerProcess(data, {"MEGAWATCH_KAFKA_PARTITIONS": "8"})
        worker.start()
        while worker.assigned_partitions() == 0:
            time.sleep(0.2)
        store = read_discovery(data / "clickhouse")
        pids = {"worker": worker.pid, "broker": broker.pid}
        if store is not None:
            pids["store_server"] = store.pid
        port = free_port()
        gateway = WorkerProcess(
            data,
            {"MEGAWATCH_KAFKA_PARTITIONS": "8"},
            command=[*worker.command[:3], "gateway", "--port", str(port), "--map", str(places)],
            name="gateway",
        )
        try:
            out["direct"] = phase_direct(worker, broker.bootstrap, direct_events, pids)
            gateway.proc = None
            _start_gateway(gateway, port)
            pids["gateway"] = gateway.pid
            url = f"http://127.0.0.1:{port}/api/v1/write"
            out["gateway"] = phase_gateway(
                worker, url, bodies, samples, len(direct_events), args.senders, pids
            )
            out["gateway"]["status"] = httpx.get(f"http://127.0.0.1:{port}/api/status").json()
        finally:
            gateway.stop()
            worker.stop()
    out["ratio_events_per_s"] = round(
        out["gateway"]["events_per_s"] / out["direct"]["events_per_s"], 3
    )
    return out


def _start_gateway(gateway: WorkerProcess, port: int) -> None:
    import subprocess

    with gateway.log.open("ab") as log:
        gateway.proc = subprocess.Popen(
            gateway.command, env=gateway.env, cwd=gateway.data_dir, stdout=log, stderr=log
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        gateway.check_alive()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gateway not ready:\n{gateway.tail()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=128, help="GPU nodes (8 GPUs each)")
    parser.add_argument("--links", type=int, default=2, help="mapped interfaces per node")
    parser.add_argument("--scrapes", type=int, default=100, help="scrapes of every node")
    parser.add_argument("--max-samples", type=int, default=2000, help="samples per request")
    parser.add_argument("--senders", type=int, default=4, help="concurrent requests")
    parser.add_argument("--out", type=Path, default=result_path("gateway.json"))
    add_smoke(parser)
    args = smallest(parser.parse_args(), hosts=2, links=1, scrapes=2, senders=1)
    with tempfile.TemporaryDirectory(prefix="megawatch-gateway-bench-") as tmp:
        result = run(args, Path(tmp))
    write_json(args.out, result)
    keys = ("load", "direct", "gateway", "ratio_events_per_s")
    print(json.dumps({k: result[k] for k in keys}, indent=2, default=str)[:4000])


if __name__ == "__main__":
    main()
