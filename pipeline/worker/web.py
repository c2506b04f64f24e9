"""The worker's HTTP endpoint (Faust's web server, bound to MEGAWATCH_WEB_HOST).

* ``GET /health``: liveness, and whether the worker has partitions assigned.
* ``GET /metrics``: the pipeline's own Prometheus metrics.
* ``GET /api/state``: the live view of every site this worker owns (the demo reads it).

There is no SQL endpoint: the CLI reaches the store itself (the embedded one through its
store server, which wants the data dir's token), so a worker's port exposes no data.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

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
                # back-pressure: consumption paused until the store takes what is held
                "backpressure": handlers.sink.backpressure,
                "sink_failing": handlers.sink.failing,
                "buffered_rows": handlers.sink.buffered_rows,
            }
        )

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        body = generate_latest(resources.metrics.registry)
        return web.bytes(body, content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/api/state")
    async def state(web: Any, request: Any) -> Any:
        return web.json(live_state(handlers.processor))
