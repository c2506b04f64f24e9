"""Simulated jobs whose truth is known, fed through the worker's core into a real store.

Two sites, 70 minutes of readings every 5 s, starting on an hour. Site ``e1`` has four
racks of two hosts of four GPUs; site ``e2`` two racks. Every job has its own power
shape (a level, a slow wave and a checkpoint dip every 10 minutes that starts off the
sampling grid), each GPU a scale of it; the truth is the shape's integral on a fine grid
(numpy), computed here, apart from the pipeline. Injected on purpose:

* a 120 s silence of one GPU of job ``train-a`` (a gap: unknown energy);
* a 3 kW load on rack ``r4``'s PDU that no GPU reports (unattributed energy); other
  racks' PDUs read exactly the sum of their GPUs at the same instants;
* a utility meter at ``e1`` reading PUE 1.25 x IT; at ``e2`` cooling (0.15 x IT) and UPS
  losses (0.05 x IT) and no utility meter (PUE 1.2);
* a software power cap on job ``serve-b``'s GPUs from minute 20 to 25 (300 s each);
* token counters of the inference hosts that grow by ``TOKENS_PER_JOULE`` (per
  accelerator) x the host's true GPU energy (its integral on the fine grid).

Labels come both ways: ``train-a`` and ``batch-c`` from the job map (control.jobs
records applied to the processor's :class:`~pipeline.core.energy.jobs.JobBook`),
``serve-b`` from the samples themselves (as dcgm-exporter's ``pod`` label gives them).
Rows go in as the worker's handler inserts them (its column names, a cluster id, via).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from pipeline.core.columnar import EventColumns
from pipeline.core.energy.capping import SW_POWER_CAP
from pipeline.core.policy import RuleConfig
from pipeline.core.processor import Processor
from pipeline.events import FacilityPower, GpuSample, RackPower, SiteSpec, WorkCounter
from pipeline.kafka.topics import FACILITY, GPU, RACK_POWER, WORK
from pipeline.store import Store
from pipeline.worker.handlers import TELEMETRY

STEP_S = 5
MINUTES = 70
GAP = ("e1", "r1-h1", "2", 1500, 1620)  # site, host, gpu, silent from/to (s)
CAP_WINDOW = (1200, 1500)  # serve-b's GPUs report the software power cap
UNATTRIBUTED_W = 3000.0  # on e1's rack r4
PUE = {"e1": 1.25, "e2": 1.2}
TOKENS_PER_JOULE = {"H100": 2.5, "MI300X": 1.5}


@dataclass(frozen=True)
class Job:
    name: str
    site: str
    racks: tuple[str, ...]
    start_s: int
    end_s: int
    tenant: str
    priority: str
    level_w: float
    labelled: bool  # True: the samples carry it; False: the job map does


JOBS = (
    Job("train-a", "e1", ("r1",), 0, 3600, "lab-1", "training", 620.0, False),
    Job("serve-b", "e1", ("r2",), 600, 4200, "shop", "inference", 410.0, True),
    Job("batch-c", "e1", ("r3",), 300, 2700, "lab-2", "batch", 540.0, False),
    Job("serve-d", "e2", ("s1", "s2"), 0, 4200, "shop", "inference", 380.0, True),
)
RACKS = {"e1": ("r1", "r2", "r3", "r4"), "e2": ("s1", "s2")}
MODEL = {"e1": "H100", "e2": "MI300X"}
IDLE_W = 60.0


def job_power(job: Job | None, t: np.ndarray) -> np.ndarray:
    """The job's power per GPU at ``t`` seconds (idle when no job runs)."""
    if job is None:
        return np.full_like(t, IDLE_W, dtype=float)
    wave = job.level_w * (1 + 0.15 * np.sin(2 * np.pi * t / 900.0))
    dip = ((t - 7.0) % 600.0) < 45.0  # a checkpoint every 10 min, off the 5 s grid
    running = (t >= job.start_s) & (t < job.end_s)
    return np.where(running, np.where(dip, 0.4 * wave, wave), IDLE_W)


@dataclass
class Gpu:
    site: str
    rack: str
    host: str
    gpu: str
    scale: float
    job: Job | None

    def power(self, t: np.ndarray) -> np.ndarray:
        return self.scale * job_power(self.job, t)


def gpus() -> list[Gpu]:
    out = []
    for site, racks in RACKS.items():
        for rack in racks:
            job = next((j for j in JOBS if j.site == site and rack in j.racks), None)
            for h in (1, 2):
                for g in range(4):
                    scale = 0.9 + 0.2 * (zlib.crc32(f"{rack}-{h}-{g}".encode()) % 97) / 96
                    out.append(Gpu(site, rack, f"{rack}-h{h}", str(g), scale, job))
    return out


def in_gap(gpu: Gpu, t: float) -> bool:
    site, host, g, lo, hi = GAP
    return (gpu.site, gpu.host, gpu.gpu) == (site, host, g) and lo < t < hi


@dataclass
class History:
    """What was fed, and the truth to check the store's answers against."""

    t0_ms: int
    gpus: list[Gpu]
    truth_j: dict[str, float] = field(default_factory=dict)  # job -> joules while it ran
    gap_true_j: float = 0.0  # the silent GPU's real energy during the gap
    gap_sized_j: float = 0.0  # last known power x gap length
    it_j: dict[str, float] = field(default_factory=dict)  # site -> PDU energy fed


def truth(history: History) -> None:
    fine = np.arange(0, MINUTES * 60 * 10 + 1) / 10.0  # every 0.1 s
    for job in JOBS:
        mine = [g for g in history.gpus if g.job is job]
        span = fine[(fine >= job.start_s) & (fine <= job.end_s)]
        history.truth_j[job.name] = float(sum(np.trapezoid(g.power(span), span) for g in mine))
    gap_gpu = next(g for g in history.gpus if in_gap(g, GAP[3] + 1))
    span = fine[(fine >= GAP[3] - STEP_S) & (fine <= GAP[4] + STEP_S)]
    before, after = GAP[3] - GAP[3] % STEP_S, GAP[4] + (-GAP[4]) % STEP_S
    inside = span[(span >= before) & (span <= after)]
    history.gap_true_j = float(np.trapezoid(gap_gpu.power(inside), inside))
    history.gap_sized_j = float(gap_gpu.power(np.array([float(before)]))[0]) * (after - before)


def feed(store: Store, t0_ms: int, specs: dict[str, SiteSpec]) -> History:
    """Run 70 minutes of every site through a Processor into ``store``."""
    history = History(t0_ms, gpus())
    processor = Processor(RuleConfig(), specs.get, lambda site: None)
    for job in JOBS:
        if not job.labelled:
            hosts = [g.host for g in history.gpus if g.job is job and g.gpu == "0"]
            record = {
                "site": job.site,
                "job": job.name,
                "hosts": hosts,
                "tenant": job.tenant,
                "priority": job.priority,
                "start_ts": t0_ms + job.start_s * 1000,
                "end_ts": t0_ms + job.end_s * 1000,
            }
            processor.energy.jobs.apply(f"{job.site}/{job.name}", orjson.dumps(record))
    offset = 0
    tokens: dict[tuple[str, str], float] = {}
    batches: dict[str, list[list[Any]]] = {}
    for t in range(0, MINUTES * 60 + 1, STEP_S):
        ts = t0_ms + t * 1000
        for site in RACKS:
            offset += 1
            mine = [g for g in history.gpus if g.site == site]
            watts = {id(g): float(g.power(np.array([float(t)]))[0]) for g in mine}
            rows = [_gpu_row(g, ts, t, watts[id(g)]) for g in mine if not in_gap(g, t)]
            _add(batches, processor.gpu(_columns(GpuSample, rows), 0, offset, ts), GPU)
            racks = []
            for rack in RACKS[site]:
                total = sum(watts[id(g)] for g in mine if g.rack == rack)
                total += UNATTRIBUTED_W if rack == "r4" else 0.0
                racks.append(
                    {
                        "site": site,
                        "rack": rack,
                        "ts": ts,
                        "power_w": total,
                        "pdu": None,
                        "source": None,
                    }
                )
            it_w = sum(r["power_w"] for r in racks)
            _add(
                batches, processor.rack_power(_columns(RackPower, racks), 0, offset, ts), RACK_POWER
            )
            _add(batches, processor.facility(_facility(site, ts, it_w), 0, offset, ts), FACILITY)
            work = []
            for host in sorted(
                {g.host for g in mine if g.job is not None and g.job.priority == "inference"}
            ):
                on_host = [g for g in mine if g.host == host]
                span = np.linspace(t - STEP_S, t, 51)
                joules = (
                    sum(float(np.trapezoid(g.power(span), span)) for g in on_host) if t else 0.0
                )
                tokens[(site, host)] = (
                    tokens.get((site, host), 1e6) + TOKENS_PER_JOULE[MODEL[site]] * joules
                )
                work.append(
                    WorkCounter(
                        site=site,
                        ts=ts,
                        counter="generation_tokens",
                        total=tokens[(site, host)],
                        host=host,
                        served_model="llama-70b",
                        source="vllm",
                    )
                )
            if work:
                _add(batches, processor.work(work, 0, offset, ts), WORK)
    for topic, columns in batches.items():  # one insert per table, as the sink batches
        table, names, _ = TELEMETRY[topic]
        n = len(columns[0])
        store.insert_columns(
            table, [*names, "kafka_cluster", "via"], [*columns, ["test"] * n, [""] * n]
        )
    truth(history)
    return history


def _gpu_row(g: Gpu, ts: int, t: int, watts: float) -> dict[str, Any]:
    job = g.job if g.job is not None and g.job.start_s <= t < g.job.end_s else None
    own = job if job is not None and job.labelled else None
    capped = job is not None and job.name == "serve-b" and CAP_WINDOW[0] <= t < CAP_WINDOW[1]
    return {
        "site": g.site,
        "rack": g.rack,
        "host": g.host,
        "gpu": g.gpu,
        "ts": ts,
        "util_pct": 90.0 if job else 0.0,
        "power_w": watts,
        "vendor": "nvidia" if MODEL[g.site] == "H100" else "amd",
        "model": MODEL[g.site],
        "mem_used_pct": None,
        "temp_c": None,
        "power_limit_w": 700.0,
        "job": own.name if own else None,
        "tenant": own.tenant if own else None,
        "priority": own.priority if own else None,
        "clock_reasons": SW_POWER_CAP if capped else 0,
    }


def _facility(site: str, ts: int, it_w: float) -> list[FacilityPower]:
    if site == "e1":
        return [
            FacilityPower(
                site=site, meter="utility", meter_kind="utility", ts=ts, power_w=PUE[site] * it_w
            )
        ]
    return [
        FacilityPower(
            site=site, meter="chillers", meter_kind="cooling", ts=ts, power_w=0.15 * it_w
        ),
        FacilityPower(site=site, meter="ups-a", meter_kind="ups_loss", ts=ts, power_w=0.05 * it_w),
    ]


def _columns(model: Any, rows: list[dict[str, Any]]) -> EventColumns[Any]:
    return EventColumns(
        model, {name: [r[name] for r in rows] for name in model.model_fields}, len(rows)
    )


def _add(batches: dict[str, list[list[Any]]], outcome: Any, topic: str) -> None:
    into = batches.setdefault(topic, [[] for _ in outcome.columns])
    for target, values in zip(into, outcome.columns, strict=True):
        target.extend(values)


def hour_start(now_s: float, hours_back: int) -> int:
    return (math.floor(now_s / 3600) - hours_back) * 3_600_000
