"""The digest's energy findings, table-tested on records (no store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline.analytics.digest import DigestInputs, LossThresholds, build_digest
from pipeline.analytics.findings_energy import (
    CappedClass,
    EnergyInputs,
    JobUse,
    SiteHour,
    WorkUse,
    capped_findings,
    job_findings,
    pue_findings,
    unattributed_findings,
    work_findings,
)

T = datetime(2026, 11, 20, tzinfo=UTC)


def hours(site: str, it: float, gpu: float, pues: list[float]) -> list[SiteHour]:
    return [
        SiteHour(site, T + timedelta(hours=i), it, gpu, it * pue, pue) for i, pue in enumerate(pues)
    ]


def test_the_biggest_unattributed_share_is_a_finding_a_small_one_is_not() -> None:
    found = unattributed_findings(
        hours("a", 1000, 750, [1.2] * 4) + hours("b", 1000, 920, [1.2] * 4)
    )
    assert [f.site for f in found] == ["a"]
    assert found[0].sentence == (
        "site a: 25 % of its IT energy (1.0 MWh of 4.0 MWh) is metered by rack PDUs but no "
        "GPU accounts for it"
    )


def test_the_worst_pue_hour_stands_out_against_the_sites_average() -> None:
    (found,) = pue_findings(hours("a", 1000, 900, [1.2, 1.25, 1.6, 1.22]))
    assert "worst PUE hour was 2026-11-20 02:00 UTC at 1.60 (average 1.32)" in found.sentence
    assert pue_findings(hours("b", 1000, 900, [1.2, 1.21, 1.22])) == []  # steady: nothing


def test_the_job_with_the_most_energy_per_gpu_hour() -> None:
    jobs = [
        JobUse("a", "77", "lab", "training", 700.0, 1000.0),
        JobUse("a", "78", "shop", "inference", 900.0, 1000.0),
        JobUse("a", "", "", "", 5000.0, 9000.0),  # no job: not a job
        JobUse("a", "79", "lab", "batch", 9.0, 0.5),  # too little to compare
    ]
    (found,) = job_findings(jobs)
    assert found.subject == "job 78" and "0.90 kWh (median of 2 jobs: 0.80 kWh)" in found.sentence


def test_one_model_on_one_accelerator_far_above_the_fleet_median() -> None:
    work = [
        WorkUse(site, "llama-70b", "generation_tokens", acc, 1e9, kwh)
        for site, acc, kwh in [
            ("a", "nvidia H100", 140.0),
            ("b", "nvidia H100", 150.0),
            ("c", "nvidia H200", 120.0),
            ("d", "amd MI300X", 420.0),  # 3x the median energy per token
        ]
    ]
    work.append(WorkUse("a", "tiny", "generation_tokens", "nvidia H100", 1e9, 1.0))  # alone
    (found,) = work_findings(work)
    assert found.subject == "llama-70b on amd MI300X at d" and found.severity == "warning"
    assert "uses 2.9x the fleet's median energy per generation token" in found.sentence


def test_capped_classes_and_every_kind_ranks() -> None:
    capped = [
        CappedClass("a", "inference", 1000.0, 120.0),
        CappedClass("a", "training", 1000.0, 10.0),
    ]
    assert [f.subject for f in capped_findings(capped)] == ["inference GPUs at a"]
    energy = EnergyInputs(
        hours("a", 1000, 700, [1.2, 1.7]),
        [
            JobUse("a", "1", "t", "training", 10.0, 20.0),
            JobUse("a", "2", "t", "training", 30.0, 20.0),
        ],
        [WorkUse(s, "m", "samples", "x", 100.0, kwh) for s, kwh in [("a", 1), ("b", 1), ("c", 9)]],
        capped,
    )
    digest = build_digest(
        DigestInputs(T, T + timedelta(days=1), energy=energy),
        LossThresholds({}, {}),
        top=10,
    )
    kinds = {f.kind for f in digest.findings}
    assert kinds == {
        "unattributed_energy",
        "worst_pue",
        "job_energy_intensity",
        "energy_per_work",
        "capped_priority",
    }
