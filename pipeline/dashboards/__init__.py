"""Grafana dashboards as code (Grafana's foundation SDK), written to deploy/grafana.

``python -m pipeline.dashboards`` regenerates ``deploy/grafana/dashboards/*.json``; a
test fails when the checked-in files differ from what this code builds, and runs the
SQL of every ClickHouse panel on the embedded store. Nothing else imports this package:
the SDK is a development dependency.
"""

__all__ = [
    "dynamics",
    "energy",
    "fleet",
    "health",
    "links",
    "panels",
    "site",
    "sources",
]
