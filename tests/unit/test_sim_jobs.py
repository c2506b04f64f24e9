"""The simulator's jobs: every GPU sample names its job, tenant and priority (none on reserve
racks), training runs are jobs of their own, and the clock reasons follow the power."""

from __future__ import annotations

from collections import Counter

import orjson

from pipeline.events import GpuSample
from pipeline.sources.sim.fleet_gen import generate_fleet
from pipeline.sources.sim.simulator import FleetSimulator, SimOptions, SimSource

START_MS = 1_785_168_000_000


def gpu_events(profile_index: int, ticks: int) -> list[GpuSample]:
    fleet = generate_fleet(12)
    site = fleet.sites[profile_index].site
    source = SimSource(
        FleetSimulator.from_names(
            fleet.only([site]), ("steady",), SimOptions(seed=3, start_ms=START_MS)
        )
    )
    out = []
    for _ in range(ticks):
        for message in source.tick_messages()[1]:
            if message.topic == "telemetry.gpu":
                out += [GpuSample.model_validate(e) for e in orjson.loads(message.value)["events"]]
    return out


def test_inference_racks_serve_as_jobs_of_tenants_and_reserve_racks_run_none() -> None:
    fleet = generate_fleet(12)
    index = next(
        i
        for i, s in enumerate(fleet.sites)
        if fleet.simulation[s.site].profile == "inference"
        and fleet.simulation[s.site].reserve_racks
    )
    events = gpu_events(index, 2)
    labelled = [e for e in events if e.job is not None]
    assert labelled and all(e.priority == "inference" and e.tenant for e in labelled)
    assert all(e.job == f"{e.site}-serve-{e.rack}" for e in labelled)
    assert any(e.job is None for e in events)  # the reserve racks
    assert all(e.clock_reasons is not None for e in events)


def test_training_runs_are_jobs_and_near_board_power_reports_the_power_cap() -> None:
    fleet = generate_fleet(12)
    index = next(
        i for i, s in enumerate(fleet.sites) if fleet.simulation[s.site].profile == "training"
    )
    events = gpu_events(index, 3)
    jobs = Counter(e.job for e in events if e.job is not None)
    assert jobs and all("-train-" in job for job in jobs)
    assert {e.priority for e in events if e.job} == {"training"}
    capped = [e for e in events if e.clock_reasons and e.clock_reasons & 0x4]
    assert all(e.power_w >= 0.97 * (e.power_limit_w or 0) for e in capped)
