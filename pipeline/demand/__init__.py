"""Demand-response events onto the compacted topic ``control.dr``.

:mod:`.control` publishes, reads and cancels events (``megawatch dr``:
:mod:`pipeline.cli.dr_cmd`; the worker's ``/api/dr``: :mod:`pipeline.worker.dr_api`).
The worker reads the topic into :class:`pipeline.core.wave.demand.DemandBook` and
measures each event where its site or region is read (docs/power-dynamics.md).
"""

__all__ = ["control"]
