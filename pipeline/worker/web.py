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

from pipeline.errors import StoreError
from pipeline.worker.handlers import Handlers
from pipeline.worker.live_state import live_state
from pipeline.worker.resources import WorkerResources

logger = logging.getLogger(__name__)


def register_views(app: faust.App, handlers: Handlers, resources: WorkerResources) -> None:
    started = time.time()

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        assigned = len(app.consumer.assignment()) if app.consumer else 0
        return web.json(
            {
                "status": "ok",
                "uptime_s": round(time.time() - started, 1),
                "assigned_partitions": assigned,
            }
        )

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        body = generate_latest(resources.metrics.registry)
        return web.bytes(body, content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/api/state")
    async def state(web: Any, request: Any) -> Any:
        return web.json(live_state(handlers.processor))

    @app.page("/api/sql")
    class SqlView(faust.web.View):
        async def post(self, request: Any) -> Any:
            body = await request.json()
            sql, params = body.get("sql", ""), body.get("params") or {}
            try:
                frame = await asyncio.to_thread(
                    resources.store.query_df, sql, params, read_only=True
                )
            except StoreError as exc:
                return self.json({"error": str(exc)}, status=400)
            return self.bytes(
                frame.to_json(orient="split", date_format="iso").encode(),
                content_type="application/json",
            )
