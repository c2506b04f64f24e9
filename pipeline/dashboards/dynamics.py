"""Power that moves: ramps, oscillation, load drops and demand response of one site
(docs/power-dynamics.md).

From ``wave_features`` (one row per stride of event time): the site's load and its
estimated part, the 1 s and 10 s ramps, the amplitude per frequency band and the
dominant frequency, and the power domains that swing most; from ``load_drops`` and
``fleet_incidents``: the drops of every site and the fleet incidents with their
timelines; from ``dr_tracking`` and ``dr_events``: a DR event's load against its target,
and each event's verification (as the named query ``dr_verification`` adds it up).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from pipeline.dashboards.panels import board, grid, row, series, site_variable
from pipeline.dashboards.sources import SQL

SITES = "SELECT site FROM wave_features WHERE $__timeFilter(ts) GROUP BY site ORDER BY site"

LOAD = """
SELECT $__timeInterval(ts) AS time,
       avg(avg_w) / 1e6 AS load_mw,
       max(held_w) / 1e6 AS estimated_mw,
       max(swing_w) / 1e6 AS swing_mw
FROM wave_features
WHERE site = '${site}' AND domain = '' AND $__timeFilter(ts)
GROUP BY time
ORDER BY time
"""

RAMPS = """
SELECT $__timeInterval(ts) AS time,
       max(ramp_1s_w) / 1e6 AS ramp_1s_mw,
       max(ramp_10s_w) / 1e6 AS ramp_10s_mw
FROM wave_features
WHERE site = '${site}' AND domain = '' AND $__timeFilter(ts)
GROUP BY time
ORDER BY time
"""

BANDS = """
SELECT $__timeInterval(ts) AS time,
       concat(toString(lo), '-', toString(hi), ' Hz') AS band,
       max(amplitude) / 1e6 AS amplitude_mw
FROM wave_features
ARRAY JOIN band_lo_hz AS lo, band_hi_hz AS hi, band_w AS amplitude
WHERE site = '${site}' AND domain = '' AND $__timeFilter(ts)
GROUP BY time, band
ORDER BY time
"""

DOMINANT = """
SELECT $__timeInterval(ts) AS time, avg(dominant_hz) AS hz
FROM wave_features
WHERE site = '${site}' AND domain = '' AND $__timeFilter(ts) AND dominant_hz IS NOT NULL
GROUP BY time
ORDER BY time
"""

DOMAINS = """
SELECT domain,
       concat(toString(lo), '-', toString(hi), ' Hz') AS band,
       round(max(amplitude) / 1e6, 3) AS max_amplitude_mw,
       round(max(ramp_1s_w) / 1e6, 3) AS max_ramp_1s_mw
FROM wave_features
ARRAY JOIN band_lo_hz AS lo, band_hi_hz AS hi, band_w AS amplitude
WHERE site = '${site}' AND domain != '' AND $__timeFilter(ts)
GROUP BY domain, band
ORDER BY max_amplitude_mw DESC
LIMIT 20
"""

DROPS = """
SELECT at, site, region,
       round(before_w / 1e6, 3) AS before_mw,
       round(after_w / 1e6, 3) AS after_mw,
       round(100 * lost_ratio, 1) AS lost_pct
FROM load_drops FINAL
WHERE $__timeFilter(at)
ORDER BY at DESC
LIMIT 50
"""

INCIDENTS = """
SELECT start_at, region, length(sites) AS sites,
       round(lost_w / 1e6, 3) AS lost_mw,
       arrayStringConcat(timeline, ' | ') AS timeline
FROM fleet_incidents FINAL
WHERE $__timeFilter(start_at)
ORDER BY start_at DESC
LIMIT 20
"""

DR_LOAD = """
SELECT ts AS time, event_id, actual_w / 1e6 AS actual_mw, target_w / 1e6 AS target_mw
FROM dr_tracking FINAL
WHERE scope = '${site}' AND $__timeFilter(ts)
ORDER BY time
"""

DR_EVENTS = """
SELECT e.event_id AS event_id, e.scope AS scope, e.start_at AS start_at, e.end_at AS end_at,
       e.baseline_method AS baseline_method,
       round((toUnixTimestamp64Milli(t.reached) - toUnixTimestamp64Milli(e.start_at)) / 1000, 1)
           AS time_to_target_s,
       round(100 * t.on_cells / nullIf(t.graced_cells, 0), 2) AS compliance_pct,
       round((t.baseline_wms - t.actual_wms) / 3.6e12, 3) AS curtailed_mwh
FROM (SELECT * FROM dr_events FINAL WHERE $__timeFilter(start_at)) AS e
LEFT JOIN (SELECT event_id, min(reached_at) AS reached, sum(on_cells) AS on_cells,
                  sum(graced_cells) AS graced_cells, sum(actual_wms) AS actual_wms,
                  sum(baseline_wms) AS baseline_wms
           FROM dr_tracking FINAL GROUP BY event_id) AS t
ON t.event_id = e.event_id
ORDER BY e.start_at DESC
"""


def dynamics_dashboard() -> dashboard.Dashboard:
    return (
        board(
            "megawatch-dynamics",
            "megawatch: power dynamics",
            "Ramps, oscillation, load drops and demand response, from the sites' waveforms.",
        )
        .time("now-1h", "now")
        .with_variable(site_variable(SITES))
        .with_row(row("Ramps"))
        .with_panel(series("Load and swing ($site)", [SQL(LOAD, "time_series")], "megwatt"))
        .with_panel(
            series(
                "Largest change within 1 s and 10 s ($site)",
                [SQL(RAMPS, "time_series")],
                "megwatt",
                description="Compare the 1 s figure with the ramp limit in MW/s "
                "(ramp_limit_mw_per_s).",
            )
        )
        .with_row(row("Oscillation"))
        .with_panel(
            series(
                "Amplitude per frequency band ($site)",
                [SQL(BANDS, "time_series")],
                "megwatt",
                description="Peak amplitude of the sinusoid carrying each band's power; "
                "compare with oscillation_limits.",
            )
        )
        .with_panel(series("Dominant frequency ($site)", [SQL(DOMINANT, "time_series")], "hertz"))
        .with_panel(grid("Domains that swing most ($site)", SQL(DOMAINS), width=24, height=8))
        .with_row(row("Load drops"))
        .with_panel(grid("Load drops (every site)", SQL(DROPS), width=12, height=8))
        .with_panel(grid("Fleet incidents", SQL(INCIDENTS), width=12, height=8))
        .with_row(row("Demand response"))
        .with_panel(
            series("Load against the DR target ($site)", [SQL(DR_LOAD, "time_series")], "megwatt")
        )
        .with_panel(grid("DR events: verification", SQL(DR_EVENTS), width=12, height=8))
    )
