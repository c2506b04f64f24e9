"""The list of sites an operator sees (``megawatch sites list``): the specs on
``control.sites``, plus the sites that send telemetry without one (stored, never
alerted), as a running worker reports them, else as the store saw them in the last day.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from pipeline.core.policy import RuleConfig, SitePolicy
from pipeline.errors import MegawatchError
from pipeline.kafka.site_specs import read_specs
from pipeline.settings import Settings

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["sites_frame"]


def sites_frame(settings: Settings) -> tuple[pd.DataFrame, str | None]:
    """Specs plus sites that send telemetry without one; and a note on what was not seen."""
    import pandas as pd

    specs = read_specs(settings)
    config = RuleConfig(**settings.rule_values())
    rows = [
        {
            "site": s.site,
            "region": s.region or "",
            "cap_mw": s.cap_mw,
            "warn_ratio": s.warn_ratio,
            "stale_after_s": SitePolicy.of(s.site, s, config).stale_after_ms / 1000,
            "spec": "yes",
        }
        for s in sorted(specs.values(), key=lambda s: s.site)
    ]
    seen, note = _sites_with_telemetry(settings)
    for site in sorted(seen - set(specs)):
        rows.append(
            {
                "site": site,
                "region": "",
                "cap_mw": None,
                "warn_ratio": None,
                "stale_after_s": None,
                "spec": "no spec: stored, no cap alerts",
            }
        )
    return pd.DataFrame(
        rows, columns=["site", "region", "cap_mw", "warn_ratio", "stale_after_s", "spec"]
    ), note


def _sites_with_telemetry(settings: Settings) -> tuple[set[str], str | None]:
    """Sites a running worker tracks, else those in the store's last day of power data."""
    url = f"http://{settings.web_host}:{settings.web_port}/api/state"
    try:
        state = httpx.get(url, timeout=3).json()
        return {s["site"] for s in state.get("sites", [])}, None
    except (httpx.HTTPError, ValueError):
        pass
    try:
        from pipeline.store.reader import read_query

        frame = read_query(
            settings, "SELECT DISTINCT site FROM site_power WHERE ts > now64(3) - INTERVAL 1 DAY"
        )
        return {str(site) for site in frame["site"]}, None
    except MegawatchError as exc:
        return set(), f"sites without a spec not shown: no worker answers at {url}, and {exc}"
