"""Digest findings about what the power figures rest on, and about power domains (pure).

* ``telemetry_gap``: minutes in which a site's coverage (racks reporting / racks known)
  was under the site's ``min_coverage`` (its spec's, else ``MEGAWATCH_MIN_COVERAGE``, as
  :class:`pipeline.core.policy.SitePolicy` has it: the worker's rule and the digest
  draw the same line), with the most power estimated at last known values for silent
  racks: a window whose power figures are partly estimates says so.
* ``domain_cap_breach``: minutes a power domain (feed, hall, row) spent at or over its
  own cap, which the site's figures do not show when the site is under its cap.

Inputs are the rows of the named queries ``coverage`` (bucket 60 s) and
``domain_headroom``, as plain records.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.analytics.ranking import Finding, duration_text, mw_text


@dataclass(frozen=True)
class CoverageMinute:
    """One site's worst coverage and most estimated power in one minute (coverage), and
    the site's minimum (its policy's ``min_coverage``)."""

    site: str
    min_coverage: float
    max_estimated_mw: float
    max_estimated_pct: float
    max_unknown_racks: int
    minimum: float


@dataclass(frozen=True)
class DomainTime:
    """One power domain over the window (domain_headroom)."""

    site: str
    domain: str
    peak_mw: float
    cap_mw: float | None
    minutes_above_cap: int
    min_coverage: float


def coverage_findings(minutes: Iterable[CoverageMinute]) -> list[Finding]:
    """One finding per site with minutes of low coverage: critical when the site was
    wholly silent in one of them, else warning."""
    by_site: dict[str, list[CoverageMinute]] = defaultdict(list)
    for m in minutes:
        if m.min_coverage < m.minimum:
            by_site[m.site].append(m)
    out = []
    for site, low in sorted(by_site.items()):
        worst = min(m.min_coverage for m in low)
        estimated = max(m.max_estimated_mw for m in low)
        share = max(m.max_estimated_pct for m in low)
        unknown = max(m.max_unknown_racks for m in low)
        minimum = low[-1].minimum
        duration_s = 60.0 * len(low)
        text = (
            f"site {site} had telemetry from under {minimum * 100:.0f} % of its racks "
            f"for {duration_text(duration_s)} (worst {worst * 100:.0f} %)"
        )
        if estimated > 0:
            text += f"; up to {mw_text(estimated)} ({share:.0f} %) estimated at last known power"
        if unknown:
            text += f"; up to {unknown} racks of unknown power"
        facts = {
            "minutes": len(low),
            "min_coverage": worst,
            "minimum": minimum,
            "max_estimated_mw": estimated,
            "max_estimated_pct": share,
            "max_unknown_racks": unknown,
        }
        severity = "critical" if worst == 0 else "warning"
        out.append(
            Finding(
                "telemetry_gap", severity, f"site {site}", site, duration_s, estimated, text, facts
            )
        )
    return out


def domain_findings(domains: Iterable[DomainTime]) -> list[Finding]:
    """Minutes a power domain spent at or over its cap (critical)."""
    out = []
    for d in domains:
        if d.cap_mw is None or d.cap_mw <= 0 or d.minutes_above_cap <= 0:
            continue
        duration_s = 60.0 * d.minutes_above_cap
        text = (
            f"domain {d.domain} of site {d.site} was at or above its {mw_text(d.cap_mw)} cap "
            f"for {duration_text(duration_s)} (peak {mw_text(d.peak_mw)})"
        )
        facts = {
            "domain": d.domain,
            "cap_mw": d.cap_mw,
            "peak_mw": d.peak_mw,
            "minutes_above_cap": d.minutes_above_cap,
            "min_coverage": d.min_coverage,
        }
        subject = f"domain {d.domain} of {d.site}"
        out.append(
            Finding(
                "domain_cap_breach", "critical", subject, d.site, duration_s, d.cap_mw, text, facts
            )
        )
    return out
