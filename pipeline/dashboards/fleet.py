"""Fleet overview: every site's share of its cap, headroom and coverage, highest first."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from pipeline.dashboards.panels import board, figure, grid, row, series
from pipeline.dashboards.sources import SQL

# The latest sample of each site in the range (one row per site per second in site_power).
LATEST = """
SELECT site,
       argMax(region, ts) AS region,
       argMax(total_w, ts) AS now_w,
       argMax(cap_w, ts) AS cap_now_w,
       argMax(warn_w, ts) AS warn_now_w,
       argMax(estimated_w, ts) AS estimated_now_w,
       argMax(coverage, ts) AS coverage_now,
       argMax(unknown_racks, ts) AS unknown_now,
       argMax(stale_racks, ts) AS stale_now,
       max(ts) AS last_ts
FROM site_power
WHERE $__timeFilter(ts)
GROUP BY site
"""

# now: each site's latest evaluated power, the number its cap alert judges; age_s: how
# long before the end of the range it was evaluated (as in the fleet_ledger query)
EVERY_SITE = f"""
SELECT site,
       region,
       round(100 * now_w / cap_now_w, 1) AS pct_of_cap,
       round(now_w / 1e6, 3) AS now_mw,
       round(dateDiff('millisecond', last_ts, $__toTime) / 1000, 1) AS age_s,
       round(cap_now_w / 1e6, 3) AS cap_mw,
       round((cap_now_w - now_w) / 1e6, 3) AS headroom_mw,
       round(100 * coverage_now, 1) AS coverage_pct,
       round(estimated_now_w / 1e6, 3) AS estimated_mw,
       unknown_now AS unknown_racks,
       stale_now AS stale_racks,
       last_ts AS last_sample
FROM ({LATEST})
ORDER BY pct_of_cap DESC NULLS LAST, now_mw DESC
"""

FLEET_NOW = f"SELECT round(sum(now_w) / 1e6, 2) AS fleet_mw FROM ({LATEST})"
FLEET_CAP = f"SELECT round(sum(cap_now_w) / 1e6, 2) AS caps_mw FROM ({LATEST})"
OVER_CAP = f"SELECT countIf(now_w >= cap_now_w) AS sites_over_cap FROM ({LATEST})"
ABOVE_WARN = f"SELECT countIf(now_w >= warn_now_w) AS sites_above_warning FROM ({LATEST})"
PARTIAL = f"SELECT countIf(coverage_now < 1) AS sites_partly_estimated FROM ({LATEST})"

TOP_SHARE = """
SELECT $__timeInterval(minute) AS time, site, max(avg_pct_of_cap) AS avg_pct_of_cap
FROM site_power_per_minute
WHERE $__timeFilter(minute)
  AND site IN (SELECT site FROM site_power_per_minute WHERE $__timeFilter(minute)
               GROUP BY site ORDER BY max(avg_pct_of_cap) DESC LIMIT 10)
GROUP BY time, site
ORDER BY time
"""

# per-minute averages added up: named so (a coincident peak needs the per-second series,
# see the fleet_ledger query)
FLEET_POWER = """
SELECT $__timeInterval(minute) AS time,
       sum(avg_w) / 1e6 AS fleet_avg_mw,
       sum(cap_w) / 1e6 AS caps_mw
FROM (SELECT minute, site, avg_w, cap_w FROM site_power_per_minute WHERE $__timeFilter(minute))
GROUP BY time
ORDER BY time
"""


def fleet_dashboard() -> dashboard.Dashboard:
    return (
        board(
            "megawatch-fleet",
            "megawatch: fleet overview",
            "Every site against its megawatt cap: share of cap, headroom and coverage.",
        )
        .with_row(row("Now"))
        .with_panel(figure("Fleet power", SQL(FLEET_NOW), "megwatt", width=5))
        .with_panel(figure("Sum of caps", SQL(FLEET_CAP), "megwatt", width=5))
        .with_panel(figure("Sites over cap", SQL(OVER_CAP), "none", width=5))
        .with_panel(figure("Sites above warning", SQL(ABOVE_WARN), "none", width=5))
        .with_panel(figure("Sites partly estimated", SQL(PARTIAL), "none", width=4))
        .with_panel(
            grid(
                "Every site, highest share of cap first",
                SQL(EVERY_SITE),
                height=14,
                description="now: the site's latest evaluated power, the number its cap "
                "alert judges, evaluated age_s before the end of the range; coverage: share "
                "of the site's racks reporting now; estimated: power of silent racks counted "
                "at their last reading",
            )
        )
        .with_row(row("Over time"))
        .with_panel(
            series(
                "% of cap (per-minute averages): the 10 sites closest to their caps",
                [SQL(TOP_SHARE, "time_series")],
                "percent",
            )
        )
        .with_panel(
            series(
                "Fleet power (per-minute averages, added up) and caps",
                [SQL(FLEET_POWER, "time_series")],
                "megwatt",
            )
        )
    )
