"""Energy at campus scale: a day of 10,000 jobs on a 1 GW campus, reported from the rollups.

What it generates (``--gpus 550000 --jobs 10000``, the defaults), straight into the
hourly rollups the worker's materialized views fill (``sql/migrations/010_energy.sql``):

* a campus of 550,008 GPUs: 7,639 racks of 9 hosts of 8 GPUs (72 per rack), 8 halls;
* 10,000 jobs over 24 hours, placed on free hosts in submission order (a job waits for
  hosts; one that cannot start within the day is counted as not run): 60 % of 1-4 hosts,
  30 % of 8-64, 9 % of 128-512, 1 % of 1,024-4,096; durations log-normal around 2 h
  (10 min to 24 h); classes training 40 %, inference 35 %, batch 25 %; 40 tenants;
* ``gpu_energy_1h``: one row per job, host and hour it ran (power per GPU by class,
  capped time on a fifth of the inference jobs, a few unknown seconds), with the GPU
  set of each row as the views make it (``uniqState``); idle hosts' GPUs at 80 W under no
  job; ``rack_energy_1h`` (the rack's GPUs + 15 % host overhead), ``facility_energy_1h``
  (a utility meter at a PUE that follows the hour), ``work_1h`` (tokens of the inference
  hosts), ``site_power_1m`` and ``domain_power_1m`` (a day of minutes, site and halls).

Then it times the reports a person asks for: ``megawatch report --page energy`` (its 7
named queries, charts and HTML), the digest's energy findings (4 named queries),
``megawatch query job_energy`` alone, and ``megawatch headroom`` for a hall with a rack
profile. Ratio against a baseline measured in the same run: per-job energy integrated at
query time from raw GPU samples (``--raw-gpus`` GPUs x 1 h at 1 s in ``gpu_samples``,
a window function per GPU), extrapolated to the campus-day, which is what the rollups
avoid. It also measures the worker's per-GPU integration state (bytes per GPU, by
tracemalloc, for the whole campus) and the cost per reading of
:meth:`pipeline.core.energy.book.EnergyBook.gpu_columns` beside the rest of
:meth:`pipeline.core.processor.Processor.gpu`. Prints JSON and writes
``energy_campus.json`` beside the other results (``--smoke``: a small campus, seconds).

    .venv/bin/python benchmarks/energy_campus.py
"""

from __future__ import annotations

import argparse
import gc
import heapq
import json
import shutil
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from bench_output import add_smoke, result_path, smallest, write_json

HOSTS_PER_RACK, GPUS_PER_HOST, HALLS = 9, 8, 8
CLASSES = (("training", 0.40, 650.0), ("inference", 0.35, 420.0), ("batch", 0.25, 520.0))
IDLE_W, HOST_OVERHEAD = 80.0, 0.15
SITE = "campus-1"
DAY_H = 24


# --- the worker's state -------------------------------------------------------------------
def state_per_gpu(gpus: int) -> dict[str, Any]:
    """Bytes per GPU of the integration state, and microseconds per reading."""
    from pipeline.core.columnar import EventColumns
    from pipeline.core.energy.book import EnergyBook, SiteEnergy
    from pipeline.core.policy import RuleConfig
    from pipeline.core.processor import Processor
    from pipeline.events import GpuSample

    hosts = gpus // GPUS_PER_HOST
    names = [f"r{h // HOSTS_PER_RACK:05d}-n{h % HOSTS_PER_RACK}" for h in range(hosts)]
    racks = [f"r{h // HOSTS_PER_RACK:05d}" for h in range(hosts)]
    batch = 4_608  # a rack row's GPUs per message (64 racks)

    def messages(ts: int) -> list[dict[str, list[Any]]]:
        out = []
        for lo in range(0, hosts, batch // GPUS_PER_HOST):
            hs = range(lo, min(hosts, lo + batch // GPUS_PER_HOST))
            n = len(hs) * GPUS_PER_HOST
            out.append(
                {
                    "site": [SITE] * n,
                    "rack": [racks[h] for h in hs for _ in range(GPUS_PER_HOST)],
                    "host": [names[h] for h in hs for _ in range(GPUS_PER_HOST)],
                    "gpu": [str(g) for _ in hs for g in range(GPUS_PER_HOST)],
                    "ts": [ts] * n,
                    "util_pct": [90.0] * n,
                    "power_w": [600.0] * n,
                    "vendor": ["nvidia"] * n,
                    "model": ["GB200"] * n,
                    "mem_used_pct": [None] * n,
                    "temp_c": [None] * n,
                    "power_limit_w": [1200.0] * n,
                    "job": [f"job-{h // 64}" for h in hs for _ in range(GPUS_PER_HOST)],
                    "tenant": ["t"] * n,
                    "priority": ["training"] * n,
                    "clock_reasons": [0] * n,
                }
            )
        return out

    first, second = messages(1_800_000_000_000), messages(1_800_000_001_000)
    gc.collect()
    tracemalloc.start()
    book = EnergyBook()
    before = tracemalloc.get_traced_memory()[0]
    site = SiteEnergy()
    for m in first:
        book.gpu_columns(SITE, site, m, 15_000)
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    started = time.perf_counter()
    for m in second:
        book.gpu_columns(SITE, site, m, 15_000)
    energy_s = time.perf_counter() - started
    processor = Processor(RuleConfig(), lambda site: None, lambda site: None)
    for batch_of in (first, second):  # the second tick is timed: every GPU has a state
        started = time.perf_counter()
        for offset, m in enumerate(batch_of):
            events = EventColumns(GpuSample, m, len(m["ts"]))
            processor.gpu(events, 0, offset, m["ts"][0])
        whole_s = time.perf_counter() - started
    state = site.gpus
    return {
        "gpus": len(state),
        "bytes_per_gpu": round(held / len(state), 1),
        "array_bytes_per_gpu": round(state.array_bytes() / len(state), 1),
        "state_mib": round(held / 2**20, 1),
        "energy_us_per_reading": round(energy_s / gpus * 1e6, 3),
        "processor_gpu_us_per_reading": round(whole_s / gpus * 1e6, 3),
        "energy_share_of_processor_gpu": round(energy_s / whole_s, 3),
    }


# --- the day's schedule ---------------------------------------------------------------------
def schedule(hosts: int, jobs: int, rng: np.random.Generator) -> list[tuple[int, ...]]:
    """(job, class, tenant, first host, hosts, start s, end s) of the jobs that ran; hosts
    are handed out as runs of free host ids (a list of free ranges would do as well)."""
    size_class = rng.choice(4, jobs, p=[0.6, 0.3, 0.09, 0.01])
    lows, highs = np.array([1, 8, 128, 1024]), np.array([4, 64, 512, 4096])
    sizes = rng.integers(lows[size_class], highs[size_class] + 1)
    durations = np.clip(rng.lognormal(np.log(7200), 0.9, jobs), 600, DAY_H * 3600)
    submits = np.sort(rng.uniform(-6 * 3600, DAY_H * 3600 * 0.9, jobs))
    kinds = rng.choice(3, jobs, p=[c[1] for c in CLASSES])
    tenants = rng.integers(0, 40, jobs)
    free = list(range(hosts))  # a stack of free hosts
    running: list[tuple[float, int, list[int]]] = []
    placed = []
    clock = -6 * 3600.0
    for j in range(jobs):
        clock = max(clock, float(submits[j]))
        need = int(sizes[j])
        while len(free) < need and running:
            end, _, held = heapq.heappop(running)
            clock = max(clock, end)
            free += held
        if len(free) < need or clock >= DAY_H * 3600:
            continue  # does not start within the day
        got, free = free[-need:], free[:-need]
        end = clock + float(durations[j])
        heapq.heappush(running, (end, j, got))
        placed.append((j, int(kinds[j]), int(tenants[j]), got, clock, end))
    return placed  # type: ignore[return-value]


def rollup_rows(placed: list[Any], hosts: int, rng: np.random.Generator) -> dict[str, Any]:
    """Columns of gpu_energy_1h rows (one per job, host and hour) and per host-hour busy time."""
    cols: dict[str, list[np.ndarray]] = {
        k: [] for k in ("hour", "host", "job", "kind", "tenant", "secs")
    }
    for j, kind, tenant, got, start, end in placed:
        first, last = max(0, int(start // 3600)), min(DAY_H - 1, int((end - 1) // 3600))
        for hour in range(first, last + 1):
            lo, hi = max(start, hour * 3600.0), min(end, (hour + 1) * 3600.0)
            if hi <= lo:
                continue
            n = len(got)
            cols["hour"].append(np.full(n, hour, np.int32))
            cols["host"].append(np.asarray(got, np.int32))
            cols["job"].append(np.full(n, j, np.int32))
            cols["kind"].append(np.full(n, kind, np.int8))
            cols["tenant"].append(np.full(n, tenant, np.int16))
            cols["secs"].append(np.full(n, hi - lo))
    out = {k: np.concatenate(v) for k, v in cols.items()}
    busy = np.bincount(out["hour"] * hosts + out["host"], out["secs"], DAY_H * hosts)
    out["idle_secs"] = np.clip(3600.0 - busy, 0.0, 3600.0)
    level = np.array([c[2] for c in CLASSES])[out["kind"]] * rng.normal(1.0, 0.05, len(out["kind"]))
    out["energy_j"] = level * out["secs"] * GPUS_PER_HOST
    capped = (out["kind"] == 1) & (out["job"] % 5 == 0)
    out["capped_s"] = np.where(capped, 0.3 * out["secs"] * GPUS_PER_HOST, 0.0)
    out["gap_s"] = np.where(out["job"] % 97 == 0, 30.0 * GPUS_PER_HOST, 0.0)
    return out


# --- the store ------------------------------------------------------------------------------
def load(store: Any, rows: dict[str, Any], hosts: int, t0: datetime) -> dict[str, int]:
    """Insert the day into the rollups; row counts per table."""
    n = len(rows["job"])
    hour_ts = [t0 + timedelta(hours=h) for h in range(DAY_H)]
    host_names = [f"r{h // HOSTS_PER_RACK:05d}-n{h % HOSTS_PER_RACK}" for h in range(hosts)]
    rack_names = [f"r{r:05d}" for r in range(hosts // HOSTS_PER_RACK + 1)]
    store.command(
        "CREATE TABLE bench_rows (hour DateTime64(3, 'UTC'), job String, tenant String, "
        "priority String, rack String, host String, gpu_s Float64, energy_j Float64, "
        "gap_s Float64, unknown_j Float64, capped_s Float64) ENGINE = MergeTree ORDER BY hour"
    )
    idle = np.flatnonzero(rows["idle_secs"] > 0)
    idle_hour, idle_host = idle // hosts, idle % hosts
    idle_secs = rows["idle_secs"][idle]
    host = np.concatenate([rows["host"], idle_host])
    columns = [
        [hour_ts[h] for h in np.concatenate([rows["hour"], idle_hour]).tolist()],
        [f"job-{j}" for j in rows["job"].tolist()] + [""] * len(idle),
        [f"tenant-{t:02d}" for t in rows["tenant"].tolist()] + [""] * len(idle),
        [CLASSES[k][0] for k in rows["kind"].tolist()] + [""] * len(idle),
        [rack_names[h // HOSTS_PER_RACK] for h in host.tolist()],
        [host_names[h] for h in host.tolist()],
        np.concatenate([rows["secs"] * GPUS_PER_HOST, idle_secs * GPUS_PER_HOST]).tolist(),
        np.concatenate([rows["energy_j"], IDLE_W * idle_secs * GPUS_PER_HOST]).tolist(),
        np.concatenate([rows["gap_s"], np.zeros(len(idle))]).tolist(),
        np.concatenate([rows["gap_s"] * 600.0, np.zeros(len(idle))]).tolist(),
        np.concatenate([rows["capped_s"], np.zeros(len(idle))]).tolist(),
    ]
    names = [
        "hour",
        "job",
        "tenant",
        "priority",
        "rack",
        "host",
        "gpu_s",
        "energy_j",
        "gap_s",
        "unknown_j",
        "capped_s",
    ]
    for lo in range(0, len(columns[0]), 500_000):
        store.insert_columns("bench_rows", names, [c[lo : lo + 500_000] for c in columns])
    store.command(
        f"INSERT INTO gpu_energy_1h SELECT '{SITE}', hour, job, tenant, priority, rack, host, "
        "'nvidia', 'GB200', 3600, gpu_s, energy_j, gap_s, unknown_j, capped_s, capped_s, 0, 0, "
        "arrayReduce('uniqState', arrayMap(g -> CAST(host AS String), range(8)), "
        "arrayMap(g -> toString(g), range(8))) FROM bench_rows"
    )
    store.command(
        f"INSERT INTO rack_energy_1h SELECT '{SITE}', hour, rack, concat('hall-', "
        f"toString(toUInt32(substring(rack, 2)) % {HALLS})), 3600, 3600, "
        f"sum(energy_j) * {1 + HOST_OVERHEAD}, 0, 0 FROM bench_rows GROUP BY hour, rack"
    )
    store.command(
        f"INSERT INTO facility_energy_1h SELECT '{SITE}', hour, 'utility', 'utility', 3600, "
        "3600, sum(energy_j) * (1.18 + 0.08 * sin(toHour(hour) / 24 * 2 * pi())), 0, 0 "
        "FROM rack_energy_1h GROUP BY hour"
    )
    store.command(
        f"INSERT INTO work_1h SELECT '{SITE}', hour, host, '', 'generation_tokens', "
        "'llama-70b', 720, energy_j * 2.4, 0 FROM bench_rows WHERE priority = 'inference'"
    )
    minutes = DAY_H * 60
    for table, key, cap in (
        ("site_power_1m", "region", 1000e6),
        ("domain_power_1m", "domain", 130e6),
    ):
        spread = "'east'" if key == "region" else f"concat('hall-', toString(number % {HALLS}))"
        count = minutes if key == "region" else minutes * HALLS
        level = "0.78" if key == "region" else "0.80"
        store.command(
            f"INSERT INTO {table} (site, {key}, minute, samples, sum_w, max_w, min_headroom_w, "
            f"cap_w, above_warn, above_cap, min_coverage, max_estimated_w) "
            f"SELECT '{SITE}', {spread}, toDateTime64('{t0:%Y-%m-%d %H:%M:%S}', 3, 'UTC') + "
            f"toIntervalMinute(intDiv(number, {1 if key == 'region' else HALLS})), 60, "
            f"60 * w, w, {cap} - w, arrayReduce('argMaxState', [toNullable({cap})], "
            f"[toDateTime64('{t0:%Y-%m-%d %H:%M:%S}', 3, 'UTC')]), 0, 0, 1, 0 FROM "
            f"(SELECT number, {cap} * ({level} + 0.08 * sin(number / {count} * 2 * pi()) "
            f"+ 0.03 * (rand(number) / 4294967295 - 0.5)) AS w FROM numbers({count}))"
        )
    store.command("DROP TABLE bench_rows")
    counted = {}
    for table in (
        "gpu_energy_1h",
        "rack_energy_1h",
        "facility_energy_1h",
        "work_1h",
        "site_power_1m",
        "domain_power_1m",
    ):
        counted[table] = int(store.query_rows(f"SELECT count() FROM {table}")[0][0])
    counted["job_rows"] = n
    return counted


def raw_baseline(store: Any, gpus: int, t0: datetime) -> dict[str, Any]:
    """Per-job energy integrated at query time from raw samples: gpus x 1 h at 1 s."""
    seconds = 3600
    n = gpus * seconds
    ts = [t0 + timedelta(seconds=s) for s in range(seconds)]
    columns = [
        [SITE] * n,
        [f"r{g // 72:05d}" for g in range(gpus) for _ in range(seconds)],
        [f"r{g // 72:05d}-n{g // 8 % 9}" for g in range(gpus) for _ in range(seconds)],
        [str(g % 8) for g in range(gpus) for _ in range(seconds)],
        ts * gpus,
        [90.0] * n,
        (600.0 + 50.0 * np.sin(np.arange(n) / 97.0)).tolist(),
        [f"job-{g // 64}" for g in range(gpus) for _ in range(seconds)],
        [0] * n,
        [0] * n,
    ]
    names = [
        "site",
        "rack",
        "host",
        "gpu",
        "ts",
        "util_pct",
        "power_w",
        "job",
        "kafka_partition",
        "kafka_offset",
    ]
    for lo in range(0, n, 300_000):
        store.insert_columns("gpu_samples", names, [c[lo : lo + 300_000] for c in columns])
    sql = (
        "SELECT job, sum(e) / 3.6e6 AS kwh FROM (SELECT job, (power_w + lagInFrame(power_w) "
        "OVER w) / 2 * dateDiff('millisecond', lagInFrame(ts) OVER w, ts) / 1000 AS e, "
        "row_number() OVER w AS k FROM gpu_samples WINDOW w AS (PARTITION BY host, gpu ORDER "
        "BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)) WHERE k > 1 GROUP BY job"
    )
    started = time.perf_counter()
    jobs = store.query_rows(sql)
    took = time.perf_counter() - started
    return {"gpus": gpus, "samples": n, "seconds": round(took, 3), "jobs": len(jobs)}


def time_reports(store: Any, end: datetime) -> dict[str, float]:
    from pipeline.analytics.digest_data import energy_inputs
    from pipeline.analytics.findings_energy import energy_findings
    from pipeline.analytics.headroom import read_headroom
    from pipeline.analytics.report import render_html
    from pipeline.analytics.report_energy import energy_sections, read_energy_data
    from pipeline.store.named import named_query

    window = DAY_H * 3600 + 1
    out: dict[str, float] = {}
    started = time.perf_counter()
    data = read_energy_data(store, window, end, SITE)
    out["report_queries_s"] = time.perf_counter() - started
    page = render_html(data, energy_sections(data))
    out["report_page_s"] = time.perf_counter() - started
    out["report_page_mb"] = len(page) / 1e6
    started = time.perf_counter()
    inputs = energy_inputs(lambda name, **p: named_query(store, name, **p), window, end, SITE)
    out["digest_findings"] = len(energy_findings(inputs))
    out["digest_energy_s"] = time.perf_counter() - started
    started = time.perf_counter()
    jobs = named_query(store, "job_energy", site=SITE, since_s=window, until=end)
    out["job_energy_s"] = time.perf_counter() - started
    out["job_energy_rows"] = len(jobs)
    started = time.perf_counter()
    answer = read_headroom(
        store, SITE, domain="hall-3", jobs=",".join(jobs["job"].head(20)), since_s=window, until=end
    )
    out["headroom_s"] = time.perf_counter() - started
    out["headroom_racks"] = answer.answer.racks or 0
    return {k: round(v, 3) for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=550_000)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--raw-gpus", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    add_smoke(parser)
    args = smallest(parser.parse_args(), gpus=4_608, jobs=40, raw_gpus=8)
    from pipeline.settings import load_settings
    from pipeline.store import open_store

    result: dict[str, Any] = {"state": state_per_gpu(args.gpus)}
    hosts = -(-args.gpus // (GPUS_PER_HOST * HOSTS_PER_RACK)) * HOSTS_PER_RACK
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    placed = schedule(hosts, args.jobs, rng)
    rows = rollup_rows(placed, hosts, rng)
    result["generated"] = {
        "gpus": hosts * GPUS_PER_HOST,
        "hosts": hosts,
        "racks": hosts // HOSTS_PER_RACK,
        "jobs_submitted": args.jobs,
        "jobs_run": len(placed),
        "generate_s": round(time.perf_counter() - started, 2),
    }
    folder = Path(tempfile.mkdtemp(prefix="energy-bench-"))
    try:
        settings = load_settings(
            clickhouse_dsn=f"chdb://{folder / 'store'}", data_dir=folder / "data"
        )
        store = open_store(settings)
        try:
            store.migrate()
            end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
            t0 = end - timedelta(hours=DAY_H)
            started = time.perf_counter()
            result["generated"].update(load(store, rows, hosts, t0))
            result["generated"]["load_s"] = round(time.perf_counter() - started, 2)
            result["reports"] = time_reports(store, end)
            result["baseline_raw"] = raw_baseline(store, args.raw_gpus, t0)
        finally:
            store.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    reports = result["reports"]
    total = reports["report_page_s"] + reports["digest_energy_s"] + reports["headroom_s"]
    raw = result["baseline_raw"]
    per_gpu_hour = raw["seconds"] / raw["gpus"]  # one hour of samples per GPU
    result["summary"] = {
        "report_digest_headroom_s": round(total, 2),
        "under_a_minute": total < 60,
        "raw_integration_estimate_s": round(per_gpu_hour * hosts * GPUS_PER_HOST * DAY_H),
        "job_energy_speedup_vs_raw": round(
            per_gpu_hour * hosts * GPUS_PER_HOST * DAY_H / reports["job_energy_s"]
        ),
    }
    print(json.dumps(result, indent=2))
    write_json(result_path("energy_campus.json"), result)


if __name__ == "__main__":
    main()
