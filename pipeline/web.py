"""The worker's HTTP endpoint (Faust's web server, bound to MEGAWATCH_WEB_HOST).

* ``GET /health``: liveness, and whether the worker has partitions assigned.
* ``GET /metrics``: the pipeline's own Prometheus metrics.
* ``GET /api/state``: the live view of every site this worker owns (the demo reads it).
* ``POST /api/sql``: a read-only query on the store this worker owns. With the embedded
  chDB engine only one process may open the store, so ``megawatch sql`` and friends go
  through here while a worker runs. Bound to loopback by default; queries run with
  ``readonly=1``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pipeline.agents import Handlers
from pipeline.errors import StoreError

logger = logging.getLogger(__name__)


def register_views(app: faust.App, settings: Any, handlers: Handlers, resources: Any) -> None:
    started = time.time()

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        assigned = len(app.consumer.assignment()) if app.consumer else 0
        return web.json({"status": "ok", "uptime_s": round(time.time() - started, 1),
                         "assigned_partitions": assigned})

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        body = generate_latest(resources.metrics.registry)
        return web.bytes(body, content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/api/state")
    async def state(web: Any, request: Any) -> Any:
        return web.json(live_state(handlers))

    @app.page("/api/sql")
    class SqlView(faust.web.View):
        async def post(self, request: Any) -> Any:
            body = await request.json()
            sql, params = body.get("sql", ""), body.get("params") or {}
            try:
                frame = await asyncio.to_thread(resources.store.query_df, sql, params,
                                                read_only=True)
            except StoreError as exc:
                return self.json({"error": str(exc)}, status=400)
            return self.bytes(frame.to_json(orient="split", date_format="iso").encode(),
                              content_type="application/json")


def live_state(handlers: Handlers) -> dict[str, Any]:
    """Per-site live figures, as of the last evaluation."""
    now = int(time.time() * 1000)
    sites = []
    processor = handlers.processor
    for site, monitor in sorted(processor.monitors.items()):
        policy = processor.policy(site)
        snap = monitor.last
        gpus = [g.stats(now, policy.stale_after_ms) for g in monitor.gpus.values()]
        busy = [s for s in gpus if s.samples]
        util = (sum(s.mean_util_pct * s.samples for s in busy) / sum(s.samples for s in busy)
                if busy else None)
        losses = [(state.loss(), link) for link, (state, _, _) in monitor.links.items()
                  if state.loss() is not None]
        worst = max(losses, default=None)
        sites.append({
            "site": site, "region": policy.region,
            "total_w": snap.total_w if snap else None, "cap_w": policy.cap_w,
            "warn_w": policy.warn_w, "racks": snap.racks if snap else 0,
            "stale_racks": snap.stale_racks if snap else 0,
            "stale_names": list(snap.stale_names) if snap else [],
            "warming": monitor.warming(now, policy), "gpu_util_pct": util,
            "worst_link": worst[1] if worst else None,
            "worst_loss": worst[0] if worst else None,
            "firing": monitor.alerts.firing_rules(),
        })
    return {"at_ms": now, "sites": sites}
