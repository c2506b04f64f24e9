"""A generated 24-hour history of a 150-site fleet, for the report at fleet scale.

Site power every 5 minutes (the rollups fill through their views): each site's share of
its cap follows a daily wave around its own level, from 40 % to 105 %, so a few sites
cross their caps in the afternoon. 150 WAN links, one per site to the next; link 17
drops 1 % of its packets, two others 0.01 %, the rest nothing. A cap alert episode on
each of the three sites that go over.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from pipeline.sources.sim.fleet_gen import generate_fleet
from pipeline.store import Store

STEP = timedelta(minutes=5)
LOSSY = {17: 0.01, 60: 0.0001, 99: 0.0001}


def insert(store: Store, table: str, rows: list[dict[str, Any]]) -> None:
    names = list(rows[0])
    store.insert_columns(table, names, [[row[n] for row in rows] for n in names])


def share(index: int, sites: int, hour: float) -> float:
    level = 0.4 + 0.6 * index / (sites - 1)  # 40 % ... 100 % of cap
    return level + 0.05 * math.sin((hour - 8) / 24 * 2 * math.pi)


def load_fleet_history(store: Store, end: datetime, sites: int = 150) -> list[str]:
    """Insert the history ending at ``end``; returns the site names."""
    specs = generate_fleet(sites).site_specs()
    points = int(timedelta(hours=24) / STEP)
    power, links, alerts = [], [], []
    for i, spec in enumerate(specs):
        cap = spec.cap_mw * 1e6
        over_since = None
        for n in range(points):
            ts = end - (points - n) * STEP
            total = share(i, sites, ts.hour + ts.minute / 60) * cap
            power.append(_power_row(spec.site, spec.region or "", ts, total, cap))
            links.append(_link_row(spec.site, specs[(i + 1) % sites].site, i, ts))
            if total >= cap and over_since is None:
                over_since = ts
        if over_since is not None:
            alerts.append(_alert_row(spec.site, i, over_since, total, cap))
    insert(store, "site_power", power)
    insert(store, "link_samples", links)
    if alerts:
        insert(store, "alerts", alerts)
    return [spec.site for spec in specs]


def _power_row(site: str, region: str, ts: datetime, total: float, cap: float) -> dict[str, Any]:
    return {
        "site": site,
        "ts": ts,
        "total_w": total,
        "cap_w": cap,
        "warn_w": 0.9 * cap,
        "headroom_w": cap - total,
        "racks": 40,
        "stale_racks": 0,
        "warming": 0,
        "region": region,
    }


def _link_row(site: str, peer: str, index: int, ts: datetime) -> dict[str, Any]:
    sent = 1_000_000
    return {
        "site": site,
        "link": f"wan-{index:03d}",
        "link_class": "wan",
        "peer_site": peer,
        "ts": ts,
        "tx_packets": 0,
        "rx_packets": 0,
        "dropped_packets": 0,
        "d_tx": sent,
        "d_rx": sent,
        "d_dropped": int(sent * LOSSY.get(index, 0.0)),
        "baseline": 0,
        "reset": 0,
        "loss_ratio": LOSSY.get(index, 0.0),
        "kafka_partition": 0,
        "kafka_offset": 0,
    }


def _alert_row(site: str, index: int, since: datetime, value: float, cap: float) -> dict[str, Any]:
    return {
        "fingerprint": f"{index:016x}",
        "seq": 1,
        "rule": "cap_critical",
        "severity": "critical",
        "status": "firing",
        "site": site,
        "link": "",
        "peer_site": "",
        "rack": "",
        "value": value,
        "threshold": cap,
        "starts_at": since,
        "ends_at": None,
        "forecast_at": None,
        "summary": f"site {site} over its cap",
        "test": 0,
        "kafka_partition": 0,
        "kafka_offset": index + 1,
    }
