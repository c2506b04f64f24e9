"""The measured phases of ``throughput.py``, each against a running worker.

* :func:`drain` times the worker through a backlog: from the last ``/metrics`` poll that
  saw no reading processed (so the worker's start, store migration and group join are
  excluded) until the sink has inserted every reading.
* :func:`settle_merges` waits, after a drain, for the store's background merges of it:
  CPU meters stopped at the last insert miss the merges still to come, and a run that
  makes smaller parts (more workers, each inserting less at a time) merges sooner.
* :func:`live` runs the paced campus load and the alert probe together, sampling the
  worker's progress and RSS every second.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from alert_latency import AlertWatch, Probe, latencies, run_probe
from campus_telemetry import Message
from kafka_load import Placement, paced
from worker_process import WorkerProcess


def settle_merges(worker: WorkerProcess, quiet_s: float = 3.0, timeout_s: float = 90.0) -> float:
    """Wait until the store has run no merge for ``quiet_s`` (``system.merges`` empty at
    every poll); the seconds waited. Polls through the worker's store server, as a user's
    query would."""
    started = time.perf_counter()
    quiet_since: float | None = None
    while time.perf_counter() - started < timeout_s:
        running = int(worker.sql("SELECT count() FROM system.merges")[0][0])
        now = time.perf_counter()
        if running:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= quiet_s:
            break
        time.sleep(0.25)
    return round(time.perf_counter() - started, 1)


class DrainStalled(RuntimeError):
    """The worker stopped making progress before storing everything; carries its metrics."""

    def __init__(self, message: str, metrics: dict[str, float]) -> None:
        super().__init__(message)
        self.metrics = {k: v for k, v in metrics.items() if k.startswith("megawatch_")}


def drain(
    worker: WorkerProcess,
    stored_before: int,
    expected: int,
    stall_s: float = 30.0,
    during: Callable[[], object] | None = None,
    at_start: Callable[[], object] | None = None,
) -> dict[str, Any]:
    """Poll until ``expected`` more readings are stored; readings/s excluding startup.

    ``during`` (the producer, when the backlog is sent to a running worker) runs in a
    thread from the first poll on; ``at_start`` is called at every poll that still saw
    nothing processed (its last call marks the drain's start: a CPU meter's start).
    Raises :class:`DrainStalled` when nothing moves for ``stall_s`` once started (or for
    four times that before the first reading)."""
    started = time.perf_counter()
    t_start = progress_at = started
    readings0: float | None = None
    rss_start: dict[str, int] = {}
    t_processed: float | None = None
    timeline: list[tuple[float, int, int]] = []
    last = (-1.0, -1)
    while True:
        worker.check_alive()
        m = worker.metrics()
        now = time.perf_counter()
        readings = m.get("megawatch_readings_total", 0.0)
        stored = worker.stored_rows(m) - stored_before
        if readings0 is None:
            readings0 = readings
            if during is not None:
                threading.Thread(target=during, daemon=True).start()
        if (readings, stored) != last:
            last, progress_at = (readings, stored), now
        if (readings == readings0 and stored <= 0) or not rss_start:
            t_start, rss_start = now, worker.memory_kib()  # nothing processed yet
            if at_start is not None:
                at_start()
        else:
            timeline.append((round(now - t_start, 2), int(readings - readings0), stored))
            if t_processed is None and readings - readings0 >= expected:
                t_processed = now
            if stored >= expected:
                break
        if now - progress_at > (stall_s if timeline else 4 * stall_s):
            raise DrainStalled(
                f"worker stored {stored} of {expected} readings and made no "
                f"progress for {now - progress_at:.0f} s",
                m,
            )
        time.sleep(0.1 if len(timeline) < 5 else 0.25)
    seconds = now - t_start
    processed_s = (t_processed or now) - t_start
    return {
        "readings": expected,
        "seconds": round(seconds, 2),
        "readings_per_s": round(expected / seconds),
        "processed_seconds": round(processed_s, 2),
        "processed_readings_per_s": round(expected / processed_s),
        "wait_before_first_reading_s": round(t_start - started, 2),
        "rss_at_start_kib": rss_start,
        "rss_at_end_kib": worker.memory_kib(),
        "timeline": timeline[:: max(1, len(timeline) // 40)],
    }


TABLE_OF = {
    "telemetry.rack_power": "rack_power",
    "telemetry.gpu": "gpu_samples",
    "telemetry.link": "link_samples",
}


def missing_messages(worker: WorkerProcess, placements: Sequence[Placement]) -> dict[str, Any]:
    """Per topic-partition: produced messages with no row in their table (holes or a tail)."""
    out: dict[str, Any] = {}
    for topic, table in TABLE_OF.items():
        rows = worker.sql(f"SELECT DISTINCT kafka_partition, kafka_offset FROM {table}")
        stored = {(int(p), int(o)) for p, o in rows}
        for partition in sorted({p for t, p, _, _ in placements if t == topic}):
            offsets = sorted(o for t, p, o, _ in placements if t == topic and p == partition)
            missing = [o for o in offsets if (partition, o) not in stored]
            if missing:
                kept = [o for p, o in stored if p == partition]
                out[f"{topic}[{partition}]"] = {
                    "produced": len(offsets),
                    "stored": len(kept),
                    "stored_max_offset": max(kept, default=None),
                    "missing": missing[:40],
                }
    return out


async def _sample(worker: WorkerProcess, out: list[dict[str, Any]], stop: asyncio.Event) -> None:
    t0 = time.perf_counter()
    while not stop.is_set():
        m = await asyncio.to_thread(worker.metrics)
        out.append(
            {
                "t": round(time.perf_counter() - t0, 1),
                "readings": int(m.get("megawatch_readings_total", 0)),
                "rss_kib": worker.memory_kib()["VmRSS"],
                # the store holding the worker back: pauses ended so far, and rows held
                "backpressure_s": round(m.get("megawatch_sink_backpressure_seconds_total", 0), 1),
                "buffered_rows": int(m.get("megawatch_sink_buffered_rows", 0)),
            }
        )
        await asyncio.sleep(1.0)


async def live(
    bootstrap: str,
    worker: WorkerProcess,
    ticks: Sequence[Sequence[Message]],
    t0: float,
    probe: Probe,
    probe_after_s: float = 2.0,
) -> dict[str, Any]:
    """Paced load from ``t0`` (perf_counter) with the probe starting ``probe_after_s`` in."""
    watch = AlertWatch(bootstrap, probe.site)
    watcher = asyncio.create_task(watch.run())
    stop = asyncio.Event()
    samples: list[dict[str, Any]] = []
    sampler = asyncio.create_task(_sample(worker, samples, stop))
    load = asyncio.create_task(paced(bootstrap, ticks, t0))
    await asyncio.sleep(max(0.0, t0 + probe_after_s - time.perf_counter()))
    sent = await run_probe(bootstrap, probe, warmup_s=probe.stale_after_s + 1.5)
    load_result = await load
    await asyncio.sleep(2.0)  # the last alerts in flight
    stop.set()
    watch.stopping = True
    await asyncio.gather(watcher, sampler)
    rates = [
        (b["readings"] - a["readings"]) / max(0.1, b["t"] - a["t"])
        for a, b in itertools.pairwise(samples)
    ]
    return {
        "offered_readings": load_result.readings,
        "offered_messages": load_result.messages,
        "offered_readings_per_s": round(load_result.readings_per_s),
        "sender_late_s_max": round(load_result.late_s_max, 3),
        "worker_readings_per_s_p50": round(sorted(rates)[len(rates) // 2]) if rates else None,
        "latency": latencies(probe, sent, watch),
        "other_alerts_seen": watch.other_alerts,
        "samples": samples,
    }
