"""The live view of every site a worker owns, as of the last evaluation: what
``GET /api/state`` returns (the demo's live view reads it)."""

from __future__ import annotations

import time
from typing import Any

from pipeline.core.processor import Processor


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
            }
        )
    return {"at_ms": now, "sites": sites}
