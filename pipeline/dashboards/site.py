"""Site drill-down: power against cap with alert episodes, domains, racks, GPUs."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from pipeline.dashboards.panels import bars, board, grid, row, series, site_variable
from pipeline.dashboards.sources import CLICKHOUSE, SQL

SITES = "SELECT site FROM site_power WHERE $__timeFilter(ts) GROUP BY site ORDER BY site"

POWER = """
SELECT $__timeInterval(ts) AS time,
       avg(total_w) / 1e6 AS power_mw,
       max(total_w) / 1e6 AS peak_mw,
       avg(estimated_w) / 1e6 AS estimated_mw,
       max(cap_w) / 1e6 AS cap_mw,
       max(warn_w) / 1e6 AS warning_mw
FROM site_power
WHERE site = '${site}' AND $__timeFilter(ts)
GROUP BY time
ORDER BY time
"""

COVERAGE = """
SELECT $__timeInterval(ts) AS time,
       100 * min(coverage) AS coverage_pct,
       max(stale_racks) AS stale_racks,
       max(unknown_racks) AS unknown_racks
FROM site_power
WHERE site = '${site}' AND $__timeFilter(ts)
GROUP BY time
ORDER BY time
"""

DOMAINS = """
SELECT $__timeInterval(ts) AS time, domain, 100 * avg(total_w) / max(cap_w) AS pct_of_cap
FROM domain_power
WHERE site = '${site}' AND $__timeFilter(ts) AND cap_w > 0
GROUP BY time, domain
ORDER BY time
"""

DOMAINS_NOW = """
SELECT domain,
       round(100 * argMax(total_w, ts) / argMax(cap_w, ts), 1) AS pct_of_cap,
       round(argMax(total_w, ts) / 1e6, 3) AS now_mw,
       round(argMax(cap_w, ts) / 1e6, 3) AS cap_mw,
       round(argMax(headroom_w, ts) / 1e6, 3) AS headroom_mw,
       round(100 * argMax(coverage, ts), 1) AS coverage_pct,
       round(argMax(estimated_w, ts) / 1e6, 3) AS estimated_mw,
       argMax(unknown_racks, ts) AS unknown_racks
FROM domain_power
WHERE site = '${site}' AND $__timeFilter(ts)
GROUP BY domain
ORDER BY pct_of_cap DESC NULLS LAST
"""

TOP_RACKS = """
SELECT rack,
       round(sum(avg_w * samples) / sum(samples) / 1e3, 1) AS avg_kw,
       round(max(max_w) / 1e3, 1) AS peak_kw
FROM rack_power_per_minute
WHERE site = '${site}' AND $__timeFilter(minute)
GROUP BY rack
ORDER BY avg_kw DESC
LIMIT 15
"""

# Watts per GPU by utilization band, from every GPU sample of the site (not averages
# of averages): what an idle GPU costs next to a busy one.
GPU_WATTS = """
SELECT concat(toString(band), '-', toString(band + 10), ' %') AS utilization,
       round(avg(power_w)) AS watts_per_gpu,
       count() AS samples
FROM (SELECT least(intDiv(toUInt32(util_pct), 10) * 10, 90) AS band, power_w
      FROM gpu_samples
      WHERE site = '${site}' AND $__timeFilter(ts))
GROUP BY band
ORDER BY band
"""

# One annotation per alert episode (a fingerprint's firing, until it resolved or now).
EPISODES = """
SELECT min(starts_at) AS time,
       ifNull(max(ends_at), now64(3)) AS timeEnd,
       concat(any(severity), ' ', any(rule), ': ', argMax(summary, seq)) AS text,
       any(rule) AS tags
FROM alerts FINAL
WHERE site = '${site}' AND test = 0
  AND starts_at <= $__toTime AND (ends_at IS NULL OR ends_at >= $__fromTime)
GROUP BY fingerprint, starts_at
ORDER BY time
"""


def site_dashboard() -> dashboard.Dashboard:
    episodes = (
        dashboard.AnnotationQuery()
        .name("alert episodes")
        .datasource(CLICKHOUSE)
        .enable(True)
        .icon_color("red")
        .target(SQL(EPISODES))  # type: ignore[arg-type]  # the plugin's own target shape
    )
    return (
        board(
            "megawatch-site",
            "megawatch: site",
            "One site: power against its cap with alert episodes, power domains, racks, GPUs.",
        )
        .with_variable(site_variable(SITES))
        .annotation(episodes)
        .with_row(row("Power"))
        .with_panel(
            series(
                "Power against cap ($site)",
                [SQL(POWER, "time_series")],
                "megwatt",
                width=16,
                height=10,
            )
        )
        .with_panel(
            series("Coverage ($site)", [SQL(COVERAGE, "time_series")], "short", width=8, height=10)
        )
        .with_row(row("Power domains"))
        .with_panel(series("% of cap per domain", [SQL(DOMAINS, "time_series")], "percent"))
        .with_panel(grid("Domains now", SQL(DOMAINS_NOW), width=12, height=8))
        .with_row(row("Racks and GPUs"))
        .with_panel(grid("Top racks by average power", SQL(TOP_RACKS), width=12, height=10))
        .with_panel(
            bars("Watts per GPU by utilization", SQL(GPU_WATTS), "watt", width=12, height=10)
        )
    )
