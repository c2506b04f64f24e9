"""Scale-out: the same backlog drained by 1 and by N workers (``throughput.py --workers N``).

Each run gets a fresh embedded broker and store (a fresh data dir), so the runs do not
share offsets, offset ledgers or deduplication tokens. The workers start first and the
backlog is produced once every worker owns partitions: a worker joining mid-drain would
rebalance the group and measure the rebalance, not the scaling. So the producer overlaps
the drain in every run alike. CPU seconds are recorded per process, the store server
(which every worker's inserts go through) included.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from cpu_usage import CpuMeter
from kafka_load import produce_backlog
from phases import drain
from worker_process import WorkerProcess, WorkerTeam

from pipeline.broker.process import EmbeddedBroker
from pipeline.events import SiteSpec
from pipeline.kafka.endpoint import KafkaEndpoint
from pipeline.kafka.site_specs import publish_specs
from pipeline.kafka.topics import ensure_topics
from pipeline.settings import load_settings
from pipeline.store import owner


def drain_with(n: int, messages: list[Any], readings: int, specs: list[SiteSpec]) -> dict[str, Any]:
    """Drain ``messages`` with ``n`` workers on a fresh broker and store."""
    with (
        tempfile.TemporaryDirectory(prefix=f"megawatch-scale-{n}-") as tmp,
        EmbeddedBroker(Path(tmp)) as broker,
    ):
        data_dir = Path(tmp)
        settings = load_settings(data_dir=data_dir)
        ensure_topics(settings, KafkaEndpoint(broker.bootstrap, True, broker.cluster_id))
        publish_specs(settings, specs)
        team = WorkerTeam([WorkerProcess(data_dir, name=f"worker-{i + 1}") for i in range(n)])
        try:
            out: dict[str, Any] = {"start_s": round(team.start(), 1)}
            out["settle_s"] = round(team.wait_assigned(), 1)
            store = owner.discover(data_dir / "clickhouse")
            pids = {**team.pids, "broker": broker.pid}
            if store is not None:
                pids["store"] = store.pid
            meter = CpuMeter(pids).start()

            def during() -> None:
                asyncio.run(produce_backlog(broker.bootstrap, messages))

            out.update(drain(team, 0, readings, during=during))  # type: ignore[arg-type]
            out["cpu_s"] = meter.stop()
            out["partition_readings"] = team.partition_readings()
            out.pop("timeline", None)
            return out
        finally:
            team.stop()
            owner.stop(data_dir / "clickhouse")


def phase_scaling(
    workers: int, messages: list[Any], readings: int, specs: list[SiteSpec]
) -> dict[str, Any]:
    runs = {n: drain_with(n, messages, readings, specs) for n in (1, workers)}
    for n, run in runs.items():
        print(f"{n} worker(s): {run['readings_per_s']:,} readings/s", flush=True)
    one, many = runs[1]["readings_per_s"], runs[workers]["readings_per_s"]
    return {
        "workers": workers,
        "runs": {f"workers_{n}": run for n, run in runs.items()},
        "ratio": round(many / one, 3),
    }
