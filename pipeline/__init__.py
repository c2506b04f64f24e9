"""megawatch: telemetry and power analytics for fleets of AI data centers.

The contract and the knobs are top-level modules (:mod:`.events`, :mod:`.settings`,
:mod:`.errors`, :mod:`.sites`, :mod:`.host`); the pure logic is :mod:`.core`, the edges
:mod:`.kafka`, :mod:`.broker`, :mod:`.store`, :mod:`.notify`, :mod:`.sources`,
:mod:`.jobs` (schedulers' jobs onto the job map), :mod:`.demand` (demand-response events
onto control.dr) and :mod:`.analytics`; :mod:`.worker`
wires them, :mod:`.cli` is the ``megawatch`` command (docs/development.md has the map).
"""

__all__ = [
    "analytics",
    "broker",
    "cli",
    "core",
    "dashboards",
    "demand",
    "demo",
    "errors",
    "events",
    "gateway",
    "host",
    "jobs",
    "kafka",
    "notify",
    "settings",
    "sites",
    "sources",
    "store",
    "worker",
]
