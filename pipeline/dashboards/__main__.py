"""``python -m pipeline.dashboards [--check]``: write (or compare) deploy/grafana/dashboards."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from pipeline.dashboards.dynamics import dynamics_dashboard
from pipeline.dashboards.energy import energy_dashboard
from pipeline.dashboards.fleet import fleet_dashboard
from pipeline.dashboards.health import health_dashboard
from pipeline.dashboards.links import links_dashboard
from pipeline.dashboards.site import site_dashboard

OUT = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboards"
DASHBOARDS: dict[str, Callable[[], Dashboard]] = {
    "megawatch-fleet.json": fleet_dashboard,
    "megawatch-site.json": site_dashboard,
    "megawatch-links.json": links_dashboard,
    "megawatch-pipeline.json": health_dashboard,
    "megawatch-energy.json": energy_dashboard,
    "megawatch-dynamics.json": dynamics_dashboard,
}


def rendered() -> dict[str, str]:
    """File name -> dashboard JSON text, as checked in."""
    return {
        name: json.dumps(build().build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"
        for name, build in DASHBOARDS.items()
    }


def main(argv: list[str]) -> int:
    texts = rendered()
    if "--check" in argv:
        stale = [
            n for n, t in texts.items() if not (OUT / n).exists() or (OUT / n).read_text() != t
        ]
        for name in stale:
            print(f"{OUT / name} differs from the code: run `python -m pipeline.dashboards`")
        return 1 if stale else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        (OUT / name).write_text(text)
        print(f"wrote {OUT / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
