"""The live view of every site a worker evaluates, as of the last evaluation: what
``GET /api/state`` returns (the demo's live view reads it).

Power is given as known: ``total_w`` = ``reported_w`` (fresh racks) + ``estimated_w``
(silent racks at their last known power); ``unknown_racks`` are silent past the hold;
``coverage`` is the share of racks reporting (null with none known). ``domains`` lists
the site's power domains (children before parents), each with its own figures.

A site is listed by the worker that owns its site stage; ``shards`` are the shards its
figures combine (for a plain site, one: ``""``), each with the age of its newest partial.
GPU and link figures are those of the site's keys this worker keeps (all of them for a
plain site). ``keys`` lists every message key (``SITE`` or ``SITE/SHARD``) whose racks
this worker keeps, wherever its site stage is."""

from __future__ import annotations

import time
from typing import Any

from pipeline.core.power import Draw
from pipeline.core.processor import Processor
from pipeline.core.site import SiteMonitor
from pipeline.core.site_stage import SiteStage


def live_state(processor: Processor) -> dict[str, Any]:
    """Per-site live figures, as of the last evaluation."""
    now = int(time.time() * 1000)
    sites = []
    for site, stage in sorted(processor.stages.items()):
        policy = processor.policy(site)
        draw = stage.last
        monitors = [m for m in processor.monitors.values() if m.site == site]
        gpus = [g.stats(now, policy.stale_after_ms) for m in monitors for g in m.gpus.values()]
        busy = [s for s in gpus if s.samples]
        util = (
            sum(s.mean_util_pct * s.samples for s in busy) / sum(s.samples for s in busy)
            if busy
            else None
        )
        losses = [
            (state.loss(), link)
            for m in monitors
            for link, (state, _, _) in m.links.items()
            if state.loss() is not None
        ]
        worst = max(losses, default=None)
        sites.append(
            {
                "site": site,
                "region": policy.region,
                "total_w": draw.total_w if draw else None,
                "cap_w": policy.cap_w,
                "warn_w": policy.warn_w,
                "racks": draw.racks if draw else 0,
                "stale_racks": draw.silent if draw else 0,
                "stale_names": stage.stale_names(),
                "warming": stage.warming(now, policy),
                "gpu_util_pct": util,
                "worst_link": worst[1] if worst else None,
                "worst_loss": worst[0] if worst else None,
                "firing": _firing(stage, monitors),
                **_coverage(draw),
                "silent_links": sorted(
                    link for m in monitors for link in m.silent_links(now, policy)
                ),
                "domains": _domains(stage),
                "shards": [
                    {
                        "shard": shard,
                        "age_ms": now - partial.at_ms,
                        "racks": partial.racks,
                        "warming": partial.warming,
                    }
                    for shard, partial in sorted(stage.partials.items())
                ],
            }
        )
    return {"at_ms": now, "sites": sites, "keys": sorted(processor.monitors)}


def _firing(stage: SiteStage, monitors: list[SiteMonitor]) -> list[dict[str, str]]:
    """What fires at the site: its stage's alerts, and those of its keys here (a plain
    site's key shares its stage's alert book: listed once)."""
    books = {id(stage.alerts): stage.alerts} | {id(m.alerts): m.alerts for m in monitors}
    return [entry for book in books.values() for entry in book.firing_rules()]


def _coverage(draw: Draw | None) -> dict[str, Any]:
    return {
        "reported_w": draw.reported_w if draw else None,
        "estimated_w": draw.estimated_w if draw else None,
        "coverage": draw.coverage if draw else None,
        "silent_racks": draw.silent if draw else 0,
        "unknown_racks": draw.unknown if draw else 0,
    }


def _domains(stage: SiteStage) -> list[dict[str, Any]]:
    draws, tree = stage.last_domains, stage.tree
    if tree is None or len(draws) != len(tree.domains):
        return []
    firing: dict[str, list[str]] = {}
    for key in stage.alerts.firing_keys():
        if key.domain:
            firing.setdefault(key.domain, []).append(key.rule)
    out = []
    for domain, draw in zip(tree.domains, draws, strict=True):
        name = domain.limits.domain or ""
        out.append(
            {
                "domain": name,
                "parent": None
                if domain.parent is None
                else tree.domains[domain.parent].limits.domain,
                "total_w": draw.total_w,
                "reported_w": draw.reported_w,
                "estimated_w": draw.estimated_w,
                "cap_w": domain.limits.cap_w,
                "warn_w": domain.limits.warn_w,
                "coverage": draw.coverage,
                "racks": draw.racks,
                "silent_racks": draw.silent,
                "unknown_racks": draw.unknown,
                "firing": sorted(firing.get(name, [])),
            }
        )
    return out
