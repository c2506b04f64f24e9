"""Digest findings about energy: what no meter explains, PUE, jobs, work per joule (pure).

* ``unattributed_energy``: a site whose rack PDUs metered a large share that no GPU
  reading accounts for (hosts, fans, NICs, GPUs not reporting), over the window;
* ``worst_pue``: a site's worst PUE hour, against its average;
* ``job_energy_intensity``: the job that drew the most energy per GPU-hour;
* ``energy_per_work``: one served model on one accelerator at one site using far more
  energy per unit of work (a token, a sample) than the fleet's median for that model;
* ``capped_priority``: a priority class whose GPUs spent a good share of their hours
  held down for power.

Inputs are rows of the named queries ``site_energy``, ``job_energy``, ``work_per_joule``
and ``capped_time``, as plain records (:class:`EnergyInputs`).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from pipeline.analytics.ranking import Finding, energy_text, percent_text

UNATTRIBUTED_SHARE = 0.15  # of IT energy: a site under it is no finding
PUE_MARGIN = 0.1  # the worst hour is a finding when this much above the site's average
WORK_FACTOR = 2.0  # energy per unit of work this many times the fleet median: a finding
WORK_PEERS = 3  # rows (site, accelerator) of a served model needed for a median
CAPPED_SHARE = 0.05  # of a class's GPU-hours
MIN_GPU_HOURS = 1.0  # a job needs this much to be compared per GPU-hour


@dataclass(frozen=True)
class SiteHour:
    site: str
    hour: datetime
    it_kwh: float
    gpu_kwh: float
    facility_kwh: float | None
    pue: float | None


@dataclass(frozen=True)
class JobUse:
    site: str
    job: str
    tenant: str
    priority: str
    kwh: float
    gpu_hours: float


@dataclass(frozen=True)
class WorkUse:
    site: str
    served_model: str
    counter: str
    accelerator: str
    work: float
    kwh: float


@dataclass(frozen=True)
class CappedClass:
    site: str
    priority: str
    gpu_hours: float
    capped_hours: float


@dataclass(frozen=True)
class EnergyInputs:
    hours: list[SiteHour] = field(default_factory=list)
    jobs: list[JobUse] = field(default_factory=list)
    work: list[WorkUse] = field(default_factory=list)
    capped: list[CappedClass] = field(default_factory=list)


def energy_findings(inputs: EnergyInputs | None) -> list[Finding]:
    if inputs is None:
        return []
    return [
        *unattributed_findings(inputs.hours),
        *pue_findings(inputs.hours),
        *job_findings(inputs.jobs),
        *work_findings(inputs.work),
        *capped_findings(inputs.capped),
    ]


def unattributed_findings(hours: list[SiteHour]) -> list[Finding]:
    by_site: dict[str, list[SiteHour]] = defaultdict(list)
    for hour in hours:
        by_site[hour.site].append(hour)
    out = []
    for site, rows in sorted(by_site.items()):
        it = sum(h.it_kwh for h in rows)
        gap = it - sum(h.gpu_kwh for h in rows)
        if it <= 0 or gap / it < UNATTRIBUTED_SHARE:
            continue
        text = (
            f"site {site}: {percent_text(gap / it)} of its IT energy ({energy_text(gap / 1000)} of "
            f"{energy_text(it / 1000)}) is metered by rack PDUs but no GPU accounts for it"
        )
        facts = {"unattributed_kwh": round(gap, 3), "it_kwh": round(it, 3), "share": gap / it}
        out.append(
            Finding(
                "unattributed_energy",
                "info",
                f"site {site}",
                site,
                3600.0 * len(rows),
                gap / 1000,
                text,
                facts,
            )
        )
    return out


def pue_findings(hours: list[SiteHour]) -> list[Finding]:
    by_site: dict[str, list[SiteHour]] = defaultdict(list)
    for hour in hours:
        if hour.pue is not None and hour.facility_kwh is not None and hour.it_kwh > 0:
            by_site[hour.site].append(hour)
    out = []
    for site, rows in sorted(by_site.items()):
        average = sum(h.facility_kwh or 0.0 for h in rows) / sum(h.it_kwh for h in rows)
        worst = max(rows, key=lambda h: (h.pue or 0.0, h.hour))
        if (worst.pue or 0.0) < average * (1 + PUE_MARGIN):
            continue
        overhead = (worst.facility_kwh or 0.0) - worst.it_kwh
        text = (
            f"site {site}: its worst PUE hour was {worst.hour:%Y-%m-%d %H:00} UTC at "
            f"{worst.pue:.2f} (average {average:.2f}): {energy_text(overhead / 1000)} of "
            "overhead in that hour"
        )
        facts = {"pue": worst.pue, "average_pue": round(average, 4), "hour": worst.hour.isoformat()}
        out.append(
            Finding(
                "worst_pue", "info", f"site {site} PUE", site, 3600.0, overhead / 1000, text, facts
            )
        )
    return out


def job_findings(jobs: list[JobUse]) -> list[Finding]:
    comparable = [j for j in jobs if j.job and j.gpu_hours >= MIN_GPU_HOURS]
    if len(comparable) < 2:
        return []
    top = max(comparable, key=lambda j: (j.kwh / j.gpu_hours, j.kwh))
    typical = statistics.median(j.kwh / j.gpu_hours for j in comparable)
    rate = top.kwh / top.gpu_hours
    text = (
        f"job {top.job} ({top.tenant or 'no tenant'}, {top.priority or 'no class'}) at "
        f"{top.site} drew the most energy per GPU-hour: {rate:.2f} kWh (median of "
        f"{len(comparable)} jobs: {typical:.2f} kWh), {energy_text(top.kwh / 1000)} in all"
    )
    facts = {"kwh_per_gpu_hour": round(rate, 4), "median": round(typical, 4), "kwh": top.kwh}
    return [
        Finding(
            "job_energy_intensity",
            "info",
            f"job {top.job}",
            top.site,
            top.gpu_hours * 3600 / max(1, len(comparable)),
            top.kwh / 1000,
            text,
            facts,
        )
    ]


def work_findings(work: list[WorkUse]) -> list[Finding]:
    by_model: dict[tuple[str, str], list[WorkUse]] = defaultdict(list)
    for row in work:
        if row.work > 0 and row.kwh > 0 and row.served_model:
            by_model[(row.served_model, row.counter)].append(row)
    out = []
    for (model, counter), rows in sorted(by_model.items()):
        if len(rows) < WORK_PEERS:
            continue
        median = statistics.median(r.kwh * 3.6e6 / r.work for r in rows)
        for row in rows:
            joules = row.kwh * 3.6e6 / row.work
            if joules < WORK_FACTOR * median:
                continue
            unit = counter.rstrip("s").replace("_", " ")
            text = (
                f"{model} on {row.accelerator or 'unknown accelerators'} at {row.site} uses "
                f"{joules / median:.1f}x the fleet's median energy per {unit} "
                f"({joules:.3g} J against {median:.3g} J over {len(rows)} sites and accelerators)"
            )
            facts = {"joules_per_work": joules, "fleet_median": median, "work": row.work}
            subject = f"{model} on {row.accelerator} at {row.site}"
            out.append(
                Finding(
                    "energy_per_work",
                    "warning",
                    subject,
                    row.site,
                    3600.0,
                    row.kwh / 1000,
                    text,
                    facts,
                )
            )
    return out


def capped_findings(classes: list[CappedClass]) -> list[Finding]:
    out = []
    for c in sorted(classes, key=lambda c: (c.site, c.priority)):
        if c.gpu_hours <= 0 or c.capped_hours / c.gpu_hours < CAPPED_SHARE:
            continue
        share = c.capped_hours / c.gpu_hours
        who = f"{c.priority} GPUs" if c.priority else "GPUs without a priority class"
        text = (
            f"{who} at {c.site} spent {percent_text(share)} of their hours capped for power "
            f"({c.capped_hours:.1f} of {c.gpu_hours:.1f} GPU-hours)"
        )
        facts = {"capped_hours": c.capped_hours, "gpu_hours": c.gpu_hours, "share": share}
        out.append(
            Finding(
                "capped_priority",
                "info",
                f"{c.priority or 'unclassed'} GPUs at {c.site}",
                c.site,
                c.capped_hours * 3600 / max(c.gpu_hours, 1),
                c.capped_hours,
                text,
                facts,
            )
        )
    return out
