"""Energy through a real worker: `megawatch jobs import` puts Slurm's jobs on control.jobs,
the worker's job map labels unlabelled GPU samples, integrates GPU, rack and facility
power and counts work, and `megawatch query job_energy` answers from the rollups."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from worker_harness import WorkerProcess, now_ms, producer, send_batch, wait_for

from pipeline.broker.process import EmbeddedBroker

pytestmark = pytest.mark.integration
SITE = "dfw-9"
HOSTS = ("gpu001", "gpu002", "gpu003")  # gpu[001-002] run job 77; gpu003 runs nothing
GPU_W = 500.0


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(tmp_path / "data") as running:
        yield running


@pytest.fixture
def worker(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(tmp_path / "data").start()
    try:
        yield proc
    finally:
        proc.stop()


def cli(
    worker: WorkerProcess, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        env=worker.env,
        cwd=worker.data_dir,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_jobs_from_slurm_label_the_samples_and_their_energy_adds_up(
    broker: EmbeddedBroker, worker: WorkerProcess
) -> None:
    now = datetime.now(UTC)
    started = (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S")
    old = [(now - timedelta(days=d)).strftime("%Y-%m-%dT%H:%M:%S") for d in (11, 10)]
    sacct = (
        "JobID|User|Account|Partition|QOS|NodeList|Start|End|State\n"
        f"77|alice|llm-lab|gpu|training|gpu[001-002]|{started}|Unknown|RUNNING\n"
        f"77.batch||llm-lab||gpu|gpu001|{started}|Unknown|RUNNING\n"
        f"12|bob|ads|gpu|batch|gpu009|{old[0]}|{old[1]}|COMPLETED\n"
    )
    done = cli(worker, "jobs", "import", "-", "--site", SITE, stdin=sacct)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"published 2 jobs of {SITE} (1 running); left out: 1 job steps"
    forgot = cli(worker, "jobs", "forget", "--ended-before", "8d")
    assert forgot.stdout.strip() == "forgot 1 jobs that ended more than 8d ago", forgot.stderr
    listed = cli(worker, "jobs", "list", "--format", "json")
    assert [(j["job"], j["hosts"], j["tenant"]) for j in json.loads(listed.stdout)] == [
        ("77", 2, "llm-lab")
    ]
    prod = producer(broker.bootstrap)

    def job_map_read() -> bool:  # control.jobs reached the worker's table: a probe is labelled
        probe = {
            "site": SITE,
            "rack": "r1",
            "host": "gpu001",
            "gpu": "0",  # an early reading of a real GPU of the job
            "ts": now_ms(),
            "util_pct": 90.0,
            "power_w": GPU_W,
            "clock_reasons": 4,
        }
        send_batch(prod, "telemetry.gpu", SITE, [probe])
        prod.flush()
        return bool(worker.sql("SELECT count() n FROM gpu_samples WHERE job = '77'")[0]["n"])

    wait_for(job_map_read, 30, "the job map in the worker")
    since = now_ms()  # rows counted from here on (the probes came before)
    ticks = 16
    for tick in range(ticks):
        ts = now_ms()
        gpus = [
            {
                "site": SITE,
                "rack": "r1",
                "host": host,
                "gpu": str(g),
                "ts": ts,
                "util_pct": 90.0,
                "power_w": GPU_W,
                "clock_reasons": 4 if host == "gpu001" else 0,
            }
            for host in HOSTS
            for g in range(4)
        ]
        send_batch(prod, "telemetry.gpu", SITE, gpus)
        send_batch(
            prod,
            "telemetry.rack_power",
            SITE,
            [{"site": SITE, "rack": "r1", "ts": ts, "power_w": 7000.0}],
        )
        facility = {
            "site": SITE,
            "meter": "main",
            "meter_kind": "utility",
            "ts": ts,
            "power_w": 8400.0,
        }
        send_batch(prod, "telemetry.facility", SITE, [facility])
        work = {"site": SITE, "ts": ts, "counter": "samples", "total": 1000.0 * tick, "job": "77"}
        send_batch(prod, "telemetry.work", SITE, [work])
        prod.flush()
        time.sleep(0.5)

    def stored() -> dict:
        row = worker.sql(
            "SELECT count() n, countIf(job = '77') labelled, sum(energy_j) e, sum(interval_s) s, "
            "(SELECT count() FROM facility_power) meters, (SELECT sum(delta) FROM work_samples) work "
            f"FROM gpu_samples WHERE ts >= fromUnixTimestamp64Milli({since})"
        )[0]
        return row if row["n"] == ticks * 12 and row["meters"] == ticks else {}

    row = wait_for(stored, 30, "every reading stored")
    assert row["labelled"] == ticks * 8  # gpu001 and gpu002: the job's hosts
    assert row["e"] == pytest.approx(GPU_W * row["s"])  # constant power: watts x seconds
    assert row["work"] == 1000.0 * (ticks - 1)  # the first reading is a baseline
    labels = worker.sql(
        "SELECT DISTINCT host, job, tenant, priority FROM gpu_samples ORDER BY host"
    )
    assert [tuple(r.values()) for r in labels] == [
        ("gpu001", "77", "llm-lab", "training"),
        ("gpu002", "77", "llm-lab", "training"),
        ("gpu003", "", "", ""),
    ]
    query = cli(worker, "query", "job_energy", "--param", f"site={SITE}", "--format", "json")
    assert query.returncode == 0, query.stderr
    jobs = {j["job"]: j for j in json.loads(query.stdout)}
    job = jobs["77"]
    assert (job["tenant"], job["priority"], job["gpus"]) == ("llm-lab", "training", 8)
    raw = worker.sql("SELECT sum(energy_j) e FROM gpu_samples WHERE job = '77'")[0]["e"]
    assert job["kwh"] == pytest.approx(raw / 3.6e6, abs=1e-6)  # the rollup holds every sample
    assert job["kwh"] == pytest.approx(GPU_W * job["gpu_hours"] / 1000, rel=0.01)  # 4 decimals
    assert job["capped_hours"] == pytest.approx(job["gpu_hours"] / 2, rel=0.05)  # gpu001's 4
    site = cli(worker, "query", "site_energy", "--param", f"site={SITE}", "--format", "json")
    (hour,) = json.loads(site.stdout)[-1:]
    assert hour["pue"] == pytest.approx(1.2, abs=1e-3)
