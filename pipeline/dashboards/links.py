"""Links: packet loss by link and by site pair, WAN first."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from pipeline.dashboards.panels import board, grid, row, series
from pipeline.dashboards.sources import SQL

WORST_WAN = """
SELECT $__timeInterval(minute) AS time,
       concat(site, ' > ', peer_site, ' (', link, ')') AS link_name,
       100 * sum(d_dropped) / greatest(sum(d_tx), 1) AS loss_pct
FROM link_per_minute
WHERE link_class = 'wan' AND $__timeFilter(minute)
  AND (site, link) IN (SELECT site, link FROM link_per_minute
                       WHERE link_class = 'wan' AND $__timeFilter(minute)
                       GROUP BY site, link
                       ORDER BY sum(d_dropped) / greatest(sum(d_tx), 1) DESC LIMIT 10)
GROUP BY time, link_name
ORDER BY time
"""

SITE_PAIRS = """
SELECT least(site, peer_site) AS site_a,
       greatest(site, peer_site) AS site_b,
       sum(d_tx) AS sent,
       sum(d_dropped) AS dropped,
       round(100 * sum(d_dropped) / greatest(sum(d_tx), 1), 4) AS loss_pct,
       groupUniqArray(link) AS links
FROM link_per_minute
WHERE link_class = 'wan' AND peer_site != '' AND $__timeFilter(minute)
GROUP BY site_a, site_b
ORDER BY loss_pct DESC, dropped DESC
"""

LINKS = """
SELECT site, link, link_class, peer_site,
       sum(d_tx) AS sent,
       sum(d_dropped) AS dropped,
       round(100 * sum(d_dropped) / greatest(sum(d_tx), 1), 4) AS loss_pct,
       round(100 * max(max_loss_ratio), 4) AS worst_sample_pct,
       sum(resets) AS counter_resets
FROM link_per_minute
WHERE $__timeFilter(minute)
GROUP BY site, link, link_class, peer_site
ORDER BY loss_pct DESC, dropped DESC
LIMIT 50
"""


def links_dashboard() -> dashboard.Dashboard:
    return (
        board(
            "megawatch-links",
            "megawatch: links",
            "Packet loss by link and by site pair: the lossy ones first.",
        )
        .with_row(row("WAN"))
        .with_panel(
            series(
                "WAN loss: the 10 worst links", [SQL(WORST_WAN, "time_series")], "percent", width=24
            )
        )
        .with_panel(grid("WAN loss by site pair (both directions)", SQL(SITE_PAIRS), width=24))
        .with_row(row("Every link"))
        .with_panel(grid("The 50 worst links, fabric and WAN", SQL(LINKS), width=24, height=12))
    )
