"""Digest findings about power that moves: demand-response events verified, and fleet
incidents (sites of one region that dropped their load together) (pure).

* ``dr_event``: each DR event of the window, as verified: MWh curtailed against what was
  asked, compliance, time to target, the baseline's method; a warning when it fell
  short (compliance or delivery under ``SHORT_PCT``, the target never reached, or under
  ``MEASURED_AT_LEAST`` of it measured), info otherwise;
* ``fleet_drop``: each fleet incident, critical (the grid lost that load at once).

Inputs are rows of the named queries ``dr_verification`` and ``fleet_incidents``, as
plain records (:class:`WaveInputs`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pipeline.analytics.ranking import Finding, energy_text, mw_text

SHORT_PCT = 90.0  # compliance or delivery under this: the event fell short
MEASURED_AT_LEAST = 0.9  # of the event


@dataclass(frozen=True)
class DrVerified:
    event_id: str
    scope: str
    is_region: bool
    start: datetime
    end: datetime
    target: str  # "-20 % of the baseline", "a 40 MW ceiling"
    baseline_method: str
    curtailed_mwh: float | None
    requested_mwh: float | None
    compliance_pct: float | None
    time_to_target_s: float | None
    coverage: float | None


@dataclass(frozen=True)
class FleetDrop:
    region: str
    start: datetime
    sites: list[str]
    lost_mw: float
    span_s: float


@dataclass(frozen=True)
class WaveInputs:
    dr: list[DrVerified] = field(default_factory=list)
    incidents: list[FleetDrop] = field(default_factory=list)


def wave_findings(inputs: WaveInputs | None, until: datetime) -> list[Finding]:
    if inputs is None:
        return []
    return [
        *(dr_finding(e, until) for e in inputs.dr),
        *(fleet_finding(i) for i in inputs.incidents),
    ]


def dr_finding(event: DrVerified, until: datetime) -> Finding:
    kind = "region" if event.is_region else "site"
    ongoing = " so far" if event.end > until else ""
    parts = [f"DR event {event.event_id} for {kind} {event.scope} ({event.target}){ongoing}:"]
    if event.curtailed_mwh is not None and event.requested_mwh:
        share = 100 * event.curtailed_mwh / event.requested_mwh
        parts.append(
            f"curtailed {energy_text(event.curtailed_mwh)} of {energy_text(event.requested_mwh)} "
            f"asked ({share:.0f} %),"
        )
    else:
        parts.append("curtailment not priced (no baseline),")
    parts.append(
        "compliance "
        + ("unknown" if event.compliance_pct is None else f"{event.compliance_pct:.1f} %")
        + ", target "
        + (
            "never reached"
            if event.time_to_target_s is None
            else f"reached in {event.time_to_target_s:.0f} s"
        )
    )
    parts.append(f"(baseline: {event.baseline_method})")
    short = _short(event)
    facts = {
        "event_id": event.event_id,
        "curtailed_mwh": event.curtailed_mwh,
        "requested_mwh": event.requested_mwh,
        "compliance_pct": event.compliance_pct,
        "time_to_target_s": event.time_to_target_s,
        "coverage": event.coverage,
    }
    return Finding(
        "dr_event",
        "warning" if short else "info",
        f"DR event {event.event_id}",
        "" if event.is_region else event.scope,
        (min(event.end, until) - event.start).total_seconds(),
        abs(event.curtailed_mwh or 0.0),
        " ".join(parts),
        facts,
    )


def _short(event: DrVerified) -> bool:
    delivered = (
        100 * event.curtailed_mwh / event.requested_mwh
        if event.curtailed_mwh is not None and event.requested_mwh
        else None
    )
    return (
        event.time_to_target_s is None
        or (event.compliance_pct is not None and event.compliance_pct < SHORT_PCT)
        or (delivered is not None and delivered < SHORT_PCT)
        or (event.coverage is not None and event.coverage < MEASURED_AT_LEAST)
    )


def fleet_finding(incident: FleetDrop) -> Finding:
    names = ", ".join(incident.sites)
    text = (
        f"region {incident.region}: {len(incident.sites)} sites ({names}) lost "
        f"{mw_text(incident.lost_mw)} together at {incident.start:%Y-%m-%d %H:%M:%S} UTC, "
        f"within {incident.span_s:.2f} s"
    )
    facts = {"sites": incident.sites, "lost_mw": incident.lost_mw, "span_s": incident.span_s}
    return Finding(
        "fleet_drop",
        "critical",
        f"region {incident.region}",
        "",
        60.0,
        incident.lost_mw,
        text,
        facts,
    )
