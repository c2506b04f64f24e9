"""Fleet incidents: load drops at several sites of one region at the same moment.

Drops are grouped per region, in time order, anchored on the first: a drop joins the
group when it came within ``within_ms`` (1 s) of the group's first drop, else it opens
the next group. Anchoring (rather than chaining drop to drop) keeps every pair of a
group within ``within_ms`` of each other and a group's extent bounded: drops every
0.9 s for a minute are many incidents, not one. A site without a region groups with no
other site. A group of two or more sites is a fleet incident (the grid lost them
together, as in the NERC 2024 event); its drops in order are the evidence timeline.

:class:`IncidentBook` is the streaming form: drops arrive from many sites in any order
(each site stage reports its own, seconds apart), and a region's drops are grouped once
no drop can still join them, which gives exactly the groups of :func:`group_drops`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.core.rules.fleet_load_drop import FLEET_WITHIN
from pipeline.core.wave.drops import Drop

WITHIN_MS = round(FLEET_WITHIN.default * 1000)  # fleet_within_s


@dataclass(frozen=True, slots=True)
class Incident:
    region: str | None
    drops: tuple[Drop, ...]  # in time order: the evidence timeline

    @property
    def start_ms(self) -> int:
        return self.drops[0].at_ms

    @property
    def sites(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(d.site for d in self.drops))

    @property
    def fleet(self) -> bool:
        """Two or more sites: what ``fleet_load_drop`` is about."""
        return len(self.sites) >= 2

    @property
    def lost_w(self) -> float:
        return sum(d.lost_w for d in self.drops)

    def timeline(self) -> list[str]:
        """One line per drop, relative to the first: the incident's evidence."""
        return [
            f"+{(d.at_ms - self.start_ms) / 1000:.2f} s  {d.site}: {d.before_w / 1e6:.1f} MW -> "
            f"{d.after_w / 1e6:.1f} MW (-{d.lost_ratio:.0%})"
            for d in self.drops
        ]


def group_drops(drops: Iterable[Drop], within_ms: int = WITHIN_MS) -> list[Incident]:
    """Incidents of ``drops``, ordered by start (per-region groups, anchored on the
    first drop of each group)."""
    by_region: dict[str | None, list[Drop]] = {}
    for drop in drops:
        by_region.setdefault(drop.region, []).append(drop)
    incidents: list[Incident] = []
    for region, found in by_region.items():
        found.sort(key=lambda d: (d.at_ms, d.site))
        if region is None:  # no region: a site is its own group
            incidents += [Incident(None, (d,)) for d in found]
            continue
        group: list[Drop] = []
        for drop in found:
            if group and drop.at_ms - group[0].at_ms > within_ms:
                incidents.append(Incident(region, tuple(group)))
                group = []
            group.append(drop)
        if group:
            incidents.append(Incident(region, tuple(group)))
    incidents.sort(key=lambda i: (i.start_ms, i.region or ""))
    return incidents


class IncidentBook:
    """Collects drops of all sites and closes incidents once nothing can join them.

    ``lateness_ms`` is how much later than its ``at_ms`` a drop may still be reported
    (the site stages' alignment lateness plus the drop's sustain, plus transit)."""

    def __init__(self, within_ms: int = WITHIN_MS, lateness_ms: int = 5000) -> None:
        self.within_ms = within_ms
        self.lateness_ms = lateness_ms
        self._open: list[Drop] = []

    def add(self, drop: Drop) -> None:
        self._open.append(drop)

    def close(self, now_ms: int) -> list[Incident]:
        """Incidents whose every possible member has been reported by ``now_ms``."""
        if not self._open:
            return []
        incidents = group_drops(self._open, self.within_ms)
        horizon = now_ms - self.lateness_ms - self.within_ms
        done: list[Incident] = []
        still: list[Incident] = []
        for incident in incidents:
            # a later drop could still join, or a drop earlier than the first arrive
            (done if incident.start_ms < horizon else still).append(incident)
        if done:
            keep = {id(d) for i in still for d in i.drops}
            self._open = [d for d in self._open if id(d) in keep]
        return done
