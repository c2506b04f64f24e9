"""The fleet rule: load drops at two or more sites of one region within ``fleet_within_s``
of each other (the grid lost them together, as 1,500 MW of data centers in July 2024).

Where it runs: sites of a region live on different workers, so each site stage sends its
drops to the region's partition of ``megawatch.regions`` (keyed by region); the worker
that owns that partition groups them (:class:`pipeline.core.wave.incidents.IncidentBook`)
once no drop can still join (``fleet_wait_s`` after the first), and steps this alert in
the region's alert book: its ``site`` is the region's id. The summary carries the
evidence timeline (each site's drop relative to the first); the incident itself is
stored (table ``fleet_incidents``). It resolves ``drop_hold_s`` of event time after the
region's last fleet incident.
"""

from __future__ import annotations

from functools import partial

from pipeline.core.alert_book import AlertBook, Facts
from pipeline.core.policy import SitePolicy
from pipeline.core.rules.registry import Param, Rule
from pipeline.core.rules.scopes import REGION_DROPS, RegionDrops
from pipeline.core.rules.wave_common import drop_alert
from pipeline.events import Alert

FLEET_WITHIN = Param(
    "fleet_within_s",
    1.0,
    "`fleet_load_drop`: drops of a region's sites this close to the first are one incident",
    "s",
    gt=0,
    le=60,
)
FLEET_WAIT = Param(
    "fleet_wait_s",
    15.0,
    "`fleet_load_drop`: how long after a drop the region waits for other sites' drops "
    "(their alignment lateness, sustain and transit)",
    "s",
    gt=0,
    le=600,
)


def evaluate_fleet(
    book: AlertBook, subject: RegionDrops, now_ms: int, policy: SitePolicy
) -> list[Alert]:
    last = subject.last_fleet
    last_ms = None if last is None else last.start_ms
    return drop_alert(book, "fleet_load_drop", last_ms, now_ms, policy, partial(_facts, subject))


def _facts(subject: RegionDrops, breached: bool) -> Facts:
    incident = subject.last_fleet
    if incident is None:
        return Facts(0.0, 0.0, f"region {subject.region}: no fleet load drop")
    sites = incident.sites
    span = (incident.drops[-1].at_ms - incident.start_ms) / 1000
    head = (
        f"region {subject.region}: {len(sites)} sites lost {incident.lost_w / 1e6:.1f} MW "
        f"within {span:.2f} s"
    )
    if not breached:
        return Facts(len(sites), 2, f"{head}; no further fleet drop since")
    return Facts(len(sites), 2, f"{head}: " + "; ".join(incident.timeline()))


RULES = (
    Rule(
        "fleet_load_drop",
        ("fleet_load_drop",),
        REGION_DROPS,
        evaluate_fleet,
        "load drops at two or more sites of one region within `fleet_within_s`",
        (FLEET_WITHIN, FLEET_WAIT),
    ),
)
