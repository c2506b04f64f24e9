"""The live view of every site a worker owns, as of the last evaluation: what
``GET /api/state`` returns (the demo's live view reads it).

Power is given as known: ``total_w`` = ``reported_w`` (fresh racks) + ``estimated_w``
(silent racks at their last known power); ``unknown_racks`` are silent past the hold;
``coverage`` is the share of racks reporting (null with none known). ``domains`` lists
the site's power domains (children before parents), each with its own figures."""

from __future__ import annotations

import time
from typing import Any

from pipeline.core.power import Draw
from pipeline.core.processor import Processor
from pipeline.core.site import SiteMonitor


def live_state(processor: Processor) -> dict[str, Any]:
    """Per-site live figures, as of the last evaluation."""
    now = int(time.time() * 1000)
    sites = []
    for site, monitor in sorted(processor.monitors.items()):
        policy = processor.policy(site)
        snap = monitor.last
        gpus = [g.stats(now, policy.stale_after_ms) for g in monitor.gpus.values()]
        busy = [s for s in gpus if s.samples]
        util = (
            sum(s.mean_util_pct * s.samples for s in busy) / sum(s.samples for s in busy)
            if busy
            else None
        )
        losses = [
            (state.loss(), link)
            for link, (state, _, _) in monitor.links.items()
            if state.loss() is not None
        ]
        worst = max(losses, default=None)
        sites.append(
            {
                "site": site,
                "region": policy.region,
                "total_w": snap.total_w if snap else None,
                "cap_w": policy.cap_w,
                "warn_w": policy.warn_w,
                "racks": snap.racks if snap else 0,
                "stale_racks": snap.stale_racks if snap else 0,
                "stale_names": list(snap.stale_names) if snap else [],
                "warming": monitor.warming(now, policy),
                "gpu_util_pct": util,
                "worst_link": worst[1] if worst else None,
                "worst_loss": worst[0] if worst else None,
                "firing": monitor.alerts.firing_rules(),
                **_coverage(snap.draw if snap else None),
                "silent_links": monitor.silent_links(now, policy),
                "domains": _domains(monitor),
            }
        )
    return {"at_ms": now, "sites": sites}


def _coverage(draw: Draw | None) -> dict[str, Any]:
    return {
        "reported_w": draw.reported_w if draw else None,
        "estimated_w": draw.estimated_w if draw else None,
        "coverage": draw.coverage if draw else None,
        "silent_racks": draw.silent if draw else 0,
        "unknown_racks": draw.unknown if draw else 0,
    }


def _domains(monitor: SiteMonitor) -> list[dict[str, Any]]:
    draws, tree = monitor.last_domains, monitor.tree
    if tree is None or len(draws) != len(tree.domains):
        return []
    firing: dict[str, list[str]] = {}
    for key in monitor.alerts.firing_keys():
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
