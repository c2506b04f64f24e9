"""Candidate findings for the digest, from plain records of the named queries (pure).

Each builder turns the rows of one question (time near the cap, power trend, link loss
per minute, idle GPU energy; the pipeline's own troubles are in
:mod:`pipeline.analytics.findings_pipeline`) into :class:`Finding`
objects with their sentence; :mod:`pipeline.analytics.ranking` says which five matter
most. Inputs are plain dataclasses so that the rules are table-tested without a store.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pipeline.analytics.ranking import Finding, duration_text, energy_text, mw_text, percent_text
from pipeline.analytics.time_words import date_text, span_text
from pipeline.core.forecast import PowerTrend

GROWTH_FINDING_DAYS = 30.0  # a site reaching its cap later than this is no finding
GROWTH_WARNING_DAYS = 7.0
GROWTH_MENTION_DAYS = 365.0  # near-cap sentences mention a reach date up to this far
STALE_NOW_S = 60.0  # a "now" older than this says how old it is


@dataclass(frozen=True)
class SiteTime:
    """Time a site spent at or over its warning level and its cap (sites_above_warning)."""

    site: str
    cap_mw: float | None
    warn_ratio: float | None
    peak_mw: float | None
    warn_s: float
    cap_s: float
    #: the site's latest evaluated power in the window (what its cap alert judged) and
    #: when it was evaluated; None where the query did not give it
    now_mw: float | None = None
    now_at: datetime | None = None


@dataclass(frozen=True)
class PowerPoint:
    """A site's average power in one bucket (site_headroom)."""

    site: str
    at: datetime
    avg_mw: float
    cap_mw: float | None


@dataclass(frozen=True)
class LinkMinute:
    """One link's traffic and drops in one minute (link_loss_over_time, bucket 60 s)."""

    site: str
    link: str
    link_class: str
    peer_site: str
    minute: datetime
    tx: int
    dropped: int


@dataclass(frozen=True)
class IdleRack:
    site: str
    rack: str
    idle_mwh: float
    idle_gpu_hours: float
    gpu_count: int


@dataclass(frozen=True)
class Growth:
    slope_mw_per_day: float
    level_mw: float
    reach_at: datetime | None


# --- power --------------------------------------------------------------------------------
def site_growth(points: Iterable[PowerPoint], window_s: float) -> dict[str, Growth]:
    """Per site, the robust trend of its bucketed power (the worker's forecast method:
    Theil-Sen over at least 6 points spanning a fifth of the window) and when it meets
    the cap."""
    by_site: dict[str, list[PowerPoint]] = defaultdict(list)
    for point in points:
        by_site[point.site].append(point)
    out = {}
    for site, series in by_site.items():
        series.sort(key=lambda p: p.at)
        cap = next((p.cap_mw for p in reversed(series) if p.cap_mw), None)
        if cap is None:
            continue  # no cap to reach
        trend = PowerTrend(window_ms=int(window_s * 1000), step_ms=1)
        for point in series:
            trend.add(int(point.at.timestamp() * 1000), point.avg_mw * 1e6)
        projection = trend.project(cap * 1e6, min_points=6)
        if projection is None:
            continue
        reach = projection.reach_ms
        out[site] = Growth(
            slope_mw_per_day=projection.slope_w_per_s * 86400 / 1e6,
            level_mw=projection.level_w / 1e6,
            reach_at=datetime.fromtimestamp(reach / 1000, UTC) if reach is not None else None,
        )
    return out


def cap_findings(
    times: Iterable[SiteTime], growth: Mapping[str, Growth], now: datetime
) -> list[Finding]:
    """Time at or over the cap (critical), else near it (warning); sites that spent no
    time near their cap but grow towards it within 30 days (cap_growth)."""
    out = []
    for t in times:
        if t.cap_mw is None or t.cap_mw <= 0:
            continue
        peak = f" (peak {mw_text(t.peak_mw)}{now_clause(t, now)})" if t.peak_mw is not None else ""
        cap = mw_text(t.cap_mw)
        facts = {
            "cap_mw": t.cap_mw,
            "peak_mw": t.peak_mw,
            "now_mw": t.now_mw,
            "seconds_above_warn": t.warn_s,
            "seconds_above_cap": t.cap_s,
            "warn_ratio": t.warn_ratio,
        }
        if t.cap_s > 0:
            text = f"site {t.site} spent {duration_text(t.cap_s)} at or above its {cap} cap{peak}"
            out.append(
                Finding(
                    "cap_breach",
                    "critical",
                    f"site {t.site}",
                    t.site,
                    t.cap_s,
                    t.cap_mw,
                    text,
                    facts,
                )
            )
        elif t.warn_s > 0:
            level = (
                f"{t.warn_ratio * 100:.0f} % of its {cap} cap"
                if t.warn_ratio
                else f"the warning level of its {cap} cap"
            )
            text = f"site {t.site} spent {duration_text(t.warn_s)} above {level}{peak}"
            text += _reach_clause(growth.get(t.site), now)
            out.append(
                Finding(
                    "near_cap", "warning", f"site {t.site}", t.site, t.warn_s, t.cap_mw, text, facts
                )
            )
        else:
            found = _growth_finding(t, growth.get(t.site), now)
            if found is not None:
                out.append(found)
    return out


def now_clause(t: SiteTime, end: datetime) -> str:
    """``; now 5.5 MW, 115 % of its cap``: the latest evaluation, with its age when it is
    not fresh (a site that stopped reporting before the end of the window)."""
    if t.now_mw is None or not t.cap_mw:
        return ""
    text = f"; now {mw_text(t.now_mw)}, {t.now_mw / t.cap_mw * 100:.0f} % of its cap"
    if t.now_at is not None and (age := (end - t.now_at).total_seconds()) >= STALE_NOW_S:
        text += f", as of {duration_text(age)} before the end of the window"
    return text


def _reach_clause(growth: Growth | None, now: datetime) -> str:
    if growth is None or growth.reach_at is None or growth.slope_mw_per_day <= 0:
        return ""
    if not now < growth.reach_at <= now + timedelta(days=GROWTH_MENTION_DAYS):
        return ""
    return (
        f"; at its current growth of {growth.slope_mw_per_day:+.2f} MW/day it reaches "
        f"the cap on {date_text(growth.reach_at, now)}"
    )


def _growth_finding(t: SiteTime, growth: Growth | None, now: datetime) -> Finding | None:
    if growth is None or growth.reach_at is None or growth.slope_mw_per_day <= 0:
        return None
    days = (growth.reach_at - now).total_seconds() / 86400
    if not 0 < days <= GROWTH_FINDING_DAYS or t.cap_mw is None:
        return None
    severity = "warning" if days <= GROWTH_WARNING_DAYS else "info"
    level = mw_text(t.now_mw) if t.now_mw is not None else f"about {mw_text(growth.level_mw)}"
    text = (
        f"site {t.site} grows {growth.slope_mw_per_day:+.2f} MW/day "
        f"(now {level}); at this rate it reaches its "
        f"{mw_text(t.cap_mw)} cap on {date_text(growth.reach_at, now)}, in {days:.0f} days"
    )
    facts = {
        "cap_mw": t.cap_mw,
        "mw_per_day": round(growth.slope_mw_per_day, 4),
        "reach_at": growth.reach_at.isoformat(),
        "days_to_cap": round(days, 2),
    }
    # A forecast has no duration yet: it counts as one hour (see ranking).
    return Finding("cap_growth", severity, f"site {t.site}", t.site, 3600.0, t.cap_mw, text, facts)


# --- links --------------------------------------------------------------------------------
def loss_findings(
    minutes: Iterable[LinkMinute],
    warn: Mapping[str, float],
    crit: Mapping[str, float],
    now: datetime,
) -> list[Finding]:
    """Links with minutes at or over their class's warning loss ratio: how much they
    dropped during those minutes (critical when that reaches the critical ratio)."""
    by_link: dict[tuple[str, str], list[LinkMinute]] = defaultdict(list)
    for m in minutes:
        by_link[(m.site, m.link)].append(m)
    out = []
    for (site, link), series in sorted(by_link.items()):
        first = series[0]
        threshold = warn.get(first.link_class)
        lossy = sorted(
            (
                m
                for m in series
                if threshold is not None and m.tx > 0 and m.dropped / m.tx >= threshold
            ),
            key=lambda m: m.minute,
        )
        if not lossy:
            continue
        tx, dropped = sum(m.tx for m in lossy), sum(m.dropped for m in lossy)
        ratio = dropped / tx
        severity = "critical" if ratio >= crit.get(first.link_class, float("inf")) else "warning"
        label = "WAN" if first.link_class == "wan" else first.link_class
        peer = f" ({site} to {first.peer_site})" if first.peer_site else f" at {site}"
        text = (
            f"{label} link {link}{peer} dropped {percent_text(ratio)} of packets "
            f"{_period(lossy, now)}"
        )
        facts = {
            "loss_ratio": ratio,
            "dropped_packets": dropped,
            "tx_packets": tx,
            "lossy_minutes": len(lossy),
            "from": lossy[0].minute.isoformat(),
            "to": (lossy[-1].minute + timedelta(minutes=1)).isoformat(),
        }
        out.append(
            Finding("link_loss", severity, f"link {link}", site, 60.0 * len(lossy), tx, text, facts)
        )
    return out


def _period(lossy: list[LinkMinute], now: datetime) -> str:
    start, end = lossy[0].minute, lossy[-1].minute + timedelta(minutes=1)
    span_min = round((end - start).total_seconds() / 60)
    if span_min == len(lossy):
        return f"during {span_text(start, end, now, '-')}"
    return f"in {len(lossy)} minutes between {span_text(start, end, now, ' and ')}"


# --- GPUs, deliveries, dead letters --------------------------------------------------------
def idle_findings(racks: Iterable[IdleRack]) -> list[Finding]:
    """One finding per site: the energy its GPUs burned under 5 % busy, naming the rack
    that burned most (a site of idle racks is one thing to fix, not fifty lines)."""
    by_site: dict[str, list[IdleRack]] = defaultdict(list)
    for rack in racks:
        if rack.idle_mwh > 0:
            by_site[rack.site].append(rack)
    out = []
    for site, idle in sorted(by_site.items()):
        idle.sort(key=lambda r: (-r.idle_mwh, r.rack))
        mwh = sum(r.idle_mwh for r in idle)
        gpu_hours = sum(r.idle_gpu_hours for r in idle)
        gpus = sum(r.gpu_count for r in idle)
        top = idle[0]
        if len(idle) == 1:
            text = (
                f"rack {top.rack} at {site} burned {energy_text(mwh)} with GPUs under 5 % "
                f"busy ({gpu_hours:.1f} GPU-hours idle)"
            )
        else:
            text = (
                f"GPUs under 5 % busy at {site} burned {energy_text(mwh)} in {len(idle)} "
                f"racks ({gpu_hours:.1f} GPU-hours idle; most at rack {top.rack}, "
                f"{energy_text(top.idle_mwh)})"
            )
        facts = {
            "idle_mwh": mwh,
            "idle_gpu_hours": gpu_hours,
            "gpus": gpus,
            "racks": [r.rack for r in idle],
        }
        # duration: the hours an idle-reporting GPU of the site spent idle, on average
        hours = gpu_hours / gpus if gpus else gpu_hours
        out.append(
            Finding(
                "idle_energy",
                "info",
                f"site {site} idle GPUs",
                site,
                hours * 3600,
                mwh,
                text,
                facts,
            )
        )
    return out
