"""The digest's inputs, read with the named queries, and the digest built from them.

Every number of the digest comes from a named query (``megawatch query ...`` shows the
same rows): sites_above_warning, site_headroom (the power trend), link_loss_over_time
(per minute, every link class), idle_power, coverage (per minute), domain_headroom,
delivery_outcomes, dead_letters, and for energy site_energy, job_energy, work_per_joule
and capped_time. A digest for one site leaves out the fleet-wide parts (deliveries, dead
letters).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from pipeline.analytics.digest import Digest, DigestInputs, LossThresholds, build_digest
from pipeline.analytics.digest_coverage import CoverageMinute, DomainTime
from pipeline.analytics.findings import (
    IdleRack,
    LinkMinute,
    PowerPoint,
    SiteTime,
)
from pipeline.analytics.findings_energy import (
    CappedClass,
    EnergyInputs,
    JobUse,
    SiteHour,
    WorkUse,
)
from pipeline.analytics.findings_pipeline import (
    DeadLetterGroup,
    DeliveryTrouble,
)
from pipeline.analytics.findings_waves import DrVerified, FleetDrop, WaveInputs
from pipeline.analytics.ranking import TOP
from pipeline.core.policy import RuleConfig, SitePolicy
from pipeline.core.rules.common import MIN_COVERAGE
from pipeline.core.rules.loss import THRESHOLDS

if TYPE_CHECKING:
    import pandas as pd

    from pipeline.events import SiteSpec
    from pipeline.settings import Settings
    from pipeline.store.client import Store

#: (query name, parameters) -> result; :func:`pipeline.store.named_query` bound to a target
QueryRunner = Callable[..., "pd.DataFrame"]
TREND_POINTS = 48  # buckets of the power trend over the window
IDLE_RACKS = 10_000  # racks read for the idle-energy totals per site


def loss_thresholds(settings: Settings) -> LossThresholds:
    """The worker's default loss ratios per link class (MEGAWATCH_LOSS_WARN_* / _CRIT_*)."""
    return LossThresholds(
        warn={kind.value: settings.rule(warn) for kind, (warn, _) in THRESHOLDS.items()},
        crit={kind.value: settings.rule(crit) for kind, (_, crit) in THRESHOLDS.items()},
    )


def site_policies(
    settings: Settings, specs: Mapping[str, SiteSpec] | None = None
) -> Callable[[str], SitePolicy]:
    """site -> its policy, as the worker evaluates it: its spec's parameters (``specs``:
    site -> spec from control.sites) over the settings."""
    config = RuleConfig(**settings.rule_values())
    known = specs or {}

    @cache
    def policy_of(site: str) -> SitePolicy:
        return SitePolicy.of(site, known.get(site), config)

    return policy_of


def current_specs(settings: Settings) -> tuple[dict[str, SiteSpec] | None, str | None]:
    """The specs on control.sites, so that sites are judged by their own parameters; or
    None and why, when the broker cannot be read (every site then gets the settings)."""
    from pipeline.errors import MegawatchError
    from pipeline.kafka.site_specs import read_specs

    try:
        return read_specs(settings), None
    except MegawatchError as exc:
        return None, f"site specs not read ({exc}): every site judged by the settings"


def read_digest(
    target: Store | Settings,
    settings: Settings,
    since_s: int,
    until: datetime | None = None,
    site: str | None = None,
    top: int = TOP,
    specs: Mapping[str, SiteSpec] | None = None,
) -> Digest:
    """The digest of the ``since_s`` seconds before ``until`` (default now), for the fleet
    or one site; ``target`` is an open store or the settings (see ``named_query``).
    ``specs`` (site -> spec) gives sites their own parameters (``min_coverage``); a
    site without one is judged by the settings."""
    from pipeline.store.named import named_query

    def run(name: str, **params: Any) -> pd.DataFrame:
        return named_query(target, name, **params)

    end = until or datetime.now(UTC)
    inputs = gather_inputs(run, since_s, end, site, site_policies(settings, specs))
    return build_digest(inputs, loss_thresholds(settings), top=top)


def gather_inputs(
    run: QueryRunner,
    since_s: int,
    until: datetime,
    site: str | None = None,
    policy_of: Callable[[str], SitePolicy] | None = None,
) -> DigestInputs:
    """The named queries' rows as records; ``policy_of`` (site -> policy, default: every
    parameter at its declared default) gives each site's own thresholds."""
    if policy_of is None:
        config = RuleConfig()
        policy_of = cache(lambda s: SitePolicy.of(s, None, config))
    window = {"since_s": since_s, "until": until}
    scope = {"site": site or ""}
    bucket_s = max(60, since_s // TREND_POINTS // 60 * 60)  # whole minutes: the rollup
    site_times = [
        SiteTime(
            r["site"],
            _num(r["cap_mw"]),
            _num(r["warn_ratio"]),
            _num(r["peak_mw"]),
            warn_s=float(r["seconds_above_warn"]),  # exact, from the per-second series
            cap_s=float(r["seconds_above_cap"]),
            now_mw=_num(r["now_mw"]),
            now_at=_time(r["now_at"]),
        )
        for r in _rows(run("sites_above_warning", **window))
        if not site or r["site"] == site
    ]
    power = [
        PowerPoint(r["site"], _time(r["bucket"]), float(r["avg_mw"]), _num(r["cap_mw"]))
        for r in _rows(run("site_headroom", bucket_s=bucket_s, **scope, **window))
    ]
    links = [
        LinkMinute(
            r["site"],
            r["link"],
            r["link_class"],
            r["peer_site"],
            _time(r["bucket"]),
            int(r["tx_packets"]),
            int(r["dropped_packets"]),
        )
        for r in _rows(run("link_loss_over_time", bucket_s=60, link_class="", **scope, **window))
    ]
    idle = [
        IdleRack(
            r["site"],
            r["rack"],
            float(r["idle_mwh"]),
            float(r["idle_gpu_hours"]),
            int(r["gpu_count"]),
        )
        for r in _rows(run("idle_power", limit=IDLE_RACKS, **scope, **window))
    ]
    coverage = [
        CoverageMinute(
            r["site"],
            float(r["min_coverage"]),
            float(r["max_estimated_mw"]),
            float(r["max_estimated_pct"]),
            int(r["max_unknown_racks"]),
            policy_of(str(r["site"]))[MIN_COVERAGE],
        )
        for r in _rows(run("coverage", bucket_s=60, **scope, **window))
    ]
    domains = [
        DomainTime(
            r["site"],
            r["domain"],
            float(r["peak_mw"]),
            _num(r["cap_mw"]),
            int(r["minutes_above_cap"]),
            float(r["min_coverage"]),
        )
        for r in _rows(run("domain_headroom", **scope, **window))
    ]
    fleet_wide = site is None
    deliveries = (
        [
            DeliveryTrouble(
                r["receiver"],
                r["outcome"],
                int(r["alerts"]),
                _time(r["first_at"]),
                _time(r["last_at"]),
                str(r["latest_error"]),
            )
            for r in _rows(run("delivery_outcomes", **window))
            if r["outcome"] in ("failed", "gave_up")
        ]
        if fleet_wide
        else []
    )
    dead = (
        [
            DeadLetterGroup(
                r["topic"],
                r["reason_code"],
                int(r["dead_letters"]),
                _time(r["first_at"]),
                _time(r["last_at"]),
            )
            for r in _rows(run("dead_letters", **window))
        ]
        if fleet_wide
        else []
    )
    energy = energy_inputs(run, since_s, until, site)
    waves = wave_inputs(run, since_s, until, site)
    return DigestInputs(
        until - timedelta(seconds=since_s),
        until,
        site,
        site_times,
        power,
        links,
        idle,
        deliveries,
        dead,
        coverage,
        domains,
        energy,
        waves,
    )


def wave_inputs(run: QueryRunner, since_s: int, until: datetime, site: str | None) -> WaveInputs:
    """The power-wave queries' rows as records."""
    window = {"since_s": since_s, "until": until, "site": site or ""}
    dr = [
        DrVerified(
            str(r["event_id"]),
            str(r["scope"]),
            bool(r["is_region"]),
            _time(r["start_at"]),
            _time(r["end_at"]),
            _target_text(_num(r["ceiling_mw"]), _num(r["reduction_pct"])),
            str(r["baseline_method"]),
            _num(r["curtailed_mwh"]),
            _num(r["requested_mwh"]),
            _num(r["compliance_pct"]),
            _num(r["time_to_target_s"]),
            _num(r["coverage"]),
        )
        for r in _rows(run("dr_verification", **window))
    ]
    incidents = [
        FleetDrop(
            str(r["region"]),
            _time(r["start_at"]),
            [str(s) for s in r["sites"]],
            float(r["lost_mw"]),
            float(r["span_s"]),
        )
        for r in _rows(run("fleet_incidents", **window))
    ]
    return WaveInputs(dr, incidents)


def _target_text(ceiling_mw: float | None, reduction_pct: float | None) -> str:
    if ceiling_mw is not None:
        return f"a {ceiling_mw:g} MW ceiling"
    return f"-{reduction_pct or 0:g} % of the baseline"


def energy_inputs(
    run: QueryRunner, since_s: int, until: datetime, site: str | None
) -> EnergyInputs:
    """The energy queries' rows as records."""
    window = {"since_s": since_s, "until": until, "site": site or ""}
    hours = [
        SiteHour(
            r["site"],
            _time(r["hour"]),
            _num(r["it_kwh"]) or 0.0,
            _num(r["gpu_kwh"]) or 0.0,
            _num(r["facility_kwh"]),
            _num(r["pue"]),
        )
        for r in _rows(run("site_energy", **window))
    ]
    jobs = [
        JobUse(
            r["site"],
            r["job"],
            r["tenant"],
            r["priority"],
            float(r["kwh"]),
            float(r["gpu_hours"]),
        )
        for r in _rows(run("job_energy", **window))
    ]
    work = [
        WorkUse(
            r["site"],
            r["served_model"],
            r["counter"],
            f"{r['vendor']} {r['model']}".strip(),
            float(r["work"]),
            _num(r["kwh"]) or 0.0,
        )
        for r in _rows(run("work_per_joule", **window))
    ]
    capped = [
        CappedClass(r["site"], r["priority"], float(r["gpu_hours"]), float(r["capped_hours"]))
        for r in _rows(run("capped_time", **window))
    ]
    return EnergyInputs(hours, jobs, work, capped)


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def _num(value: Any) -> float | None:
    """A number, or None for NULL/NaN."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _time(value: Any) -> datetime:
    """A timestamp from a DataFrame (pandas, or ISO text from the worker's /api/sql)."""
    import pandas as pd

    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    result: datetime = stamp.to_pydatetime()
    return result
