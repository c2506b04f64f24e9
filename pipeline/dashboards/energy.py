"""Energy: who used the megawatts, reconciled with the meters (docs/energy.md).

Per site, from the hourly rollups: energy per hour (facility, IT, GPUs), PUE, the jobs
and tenants that used most, capped GPU-hours per priority, racks whose PDUs metered what
no GPU accounts for, work per joule, and each power domain's p99/p99.9 against its cap.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from pipeline.dashboards.panels import bars, board, grid, row, series, site_variable
from pipeline.dashboards.sources import SQL

SITES = "SELECT site FROM gpu_energy_1h WHERE $__timeFilter(hour) GROUP BY site ORDER BY site"

ENERGY = """
SELECT hour AS time,
       sum(it) / 3.6e6 AS it_kwh,
       sum(gpu) / 3.6e6 AS gpu_kwh,
       sum(facility) / 3.6e6 AS facility_kwh
FROM (
    SELECT hour, energy_j AS it, 0 AS gpu, 0 AS facility FROM rack_energy_1h
    WHERE site = '${site}' AND $__timeFilter(hour)
    UNION ALL
    SELECT hour, 0, energy_j, 0 FROM gpu_energy_1h WHERE site = '${site}' AND $__timeFilter(hour)
    UNION ALL
    SELECT hour, 0, 0, energy_j FROM facility_energy_1h
    WHERE site = '${site}' AND $__timeFilter(hour) AND meter_kind = 'utility'
)
GROUP BY time
ORDER BY time
"""

PUE = """
SELECT f.hour AS time, f.facility / i.it AS pue
FROM (SELECT hour, sum(energy_j) AS facility FROM facility_energy_1h
      WHERE site = '${site}' AND $__timeFilter(hour) AND meter_kind = 'utility'
      GROUP BY hour) AS f
INNER JOIN (SELECT hour, sum(energy_j) AS it FROM rack_energy_1h
            WHERE site = '${site}' AND $__timeFilter(hour) GROUP BY hour) AS i
ON f.hour = i.hour
ORDER BY time
"""

JOBS = """
SELECT job,
       argMax(tenant, e) AS tenant,
       argMax(priority, e) AS priority,
       round(sum(e) / 3.6e6, 3) AS kwh,
       round(sum(u) / 3.6e6, 3) AS unknown_kwh,
       round(sum(s) / 3600, 2) AS gpu_hours,
       round(sum(e) / 3.6e6 / nullIf(sum(s) / 3600, 0), 3) AS kwh_per_gpu_hour,
       round(100 * sum(c) / nullIf(sum(s), 0), 1) AS capped_pct
FROM (SELECT job, tenant, priority, sum(energy_j) AS e, sum(unknown_j) AS u,
             sum(gpu_s) AS s, sum(capped_s) AS c
      FROM gpu_energy_1h
      WHERE site = '${site}' AND $__timeFilter(hour) AND job != ''
      GROUP BY job, tenant, priority)
GROUP BY job
ORDER BY kwh DESC
LIMIT 25
"""

TENANTS = """
SELECT if(tenant = '', '(none)', tenant) AS tenant, round(sum(energy_j) / 3.6e6, 3) AS kwh
FROM gpu_energy_1h
WHERE site = '${site}' AND $__timeFilter(hour)
GROUP BY tenant
ORDER BY kwh DESC
LIMIT 20
"""

CAPPED = """
SELECT hour AS time, if(priority = '', '(none)', priority) AS priority,
       100 * sum(capped_s) / nullIf(sum(gpu_s), 0) AS capped_pct
FROM gpu_energy_1h
WHERE site = '${site}' AND $__timeFilter(hour)
GROUP BY time, priority
ORDER BY time
"""

UNATTRIBUTED = """
SELECT p.rack AS rack,
       round(p.pdu / 3.6e6, 3) AS pdu_kwh,
       round(g.gpu / 3.6e6, 3) AS gpu_kwh,
       round((p.pdu - g.gpu) / 3.6e6, 3) AS unattributed_kwh,
       round(100 * (p.pdu - g.gpu) / nullIf(p.pdu, 0), 1) AS unattributed_pct
FROM (SELECT rack, sum(energy_j) AS pdu FROM rack_energy_1h
      WHERE site = '${site}' AND $__timeFilter(hour) GROUP BY rack) AS p
LEFT JOIN (SELECT rack, sum(energy_j) AS gpu FROM gpu_energy_1h
           WHERE site = '${site}' AND $__timeFilter(hour) GROUP BY rack) AS g
ON p.rack = g.rack
ORDER BY unattributed_kwh DESC
LIMIT 15
"""

WORK = """
SELECT w.served_model AS served_model, w.counter AS counter,
       round(sum(w.work) / nullIf(sum(e.e), 0), 4) AS work_per_joule,
       round(sum(e.e) / nullIf(sum(w.work), 0), 4) AS joules_per_work,
       sum(w.work) AS work
FROM (SELECT hour, host, served_model, counter, sum(work_1h.work) AS work FROM work_1h
      WHERE site = '${site}' AND $__timeFilter(hour) AND host != ''
      GROUP BY hour, host, served_model, counter) AS w
INNER JOIN (SELECT hour, host, sum(energy_j) AS e FROM gpu_energy_1h
            WHERE site = '${site}' AND $__timeFilter(hour) GROUP BY hour, host) AS e
ON w.hour = e.hour AND w.host = e.host
GROUP BY served_model, counter
ORDER BY joules_per_work DESC
"""

QUANTILES = """
SELECT domain,
       round(quantileExact(0.99)(peak) / 1e6, 3) AS p99_mw,
       round(quantileExact(0.999)(peak) / 1e6, 3) AS p999_mw,
       round(max(peak) / 1e6, 3) AS peak_mw,
       round(argMax(cap, minute) / 1e6, 3) AS cap_mw,
       round((argMax(cap, minute) - quantileExact(0.999)(peak)) / 1e6, 3) AS stranded_mw
FROM (SELECT '(site)' AS domain, minute, max(max_w) AS peak, argMaxMerge(cap_w) AS cap
      FROM site_power_1m WHERE site = '${site}' AND $__timeFilter(minute) GROUP BY minute
      UNION ALL
      SELECT CAST(domain AS String), minute, max(max_w), argMaxMerge(cap_w)
      FROM domain_power_1m WHERE site = '${site}' AND $__timeFilter(minute)
      GROUP BY domain, minute)
GROUP BY domain
ORDER BY stranded_mw
"""


def energy_dashboard() -> dashboard.Dashboard:
    return (
        board(
            "megawatch-energy",
            "megawatch: energy",
            "Who used the megawatts: jobs, tenants, PUE, capped time, work per joule, headroom.",
        )
        .time("now-7d", "now")
        .with_variable(site_variable(SITES))
        .with_row(row("Energy"))
        .with_panel(
            series("Energy per hour ($site)", [SQL(ENERGY, "time_series")], "kwatth", width=16)
        )
        .with_panel(series("PUE ($site)", [SQL(PUE, "time_series")], "short", width=8))
        .with_row(row("Jobs and tenants"))
        .with_panel(grid("Jobs that used most", SQL(JOBS), width=16, height=10))
        .with_panel(bars("Energy per tenant", SQL(TENANTS), "kwatth", width=8, height=10))
        .with_row(row("Capped time and reconciliation"))
        .with_panel(
            series("% of GPU-hours capped, per priority", [SQL(CAPPED, "time_series")], "percent")
        )
        .with_panel(
            grid("Racks: PDU energy no GPU accounts for", SQL(UNATTRIBUTED), width=12, height=8)
        )
        .with_row(row("Work and headroom"))
        .with_panel(grid("Work per joule", SQL(WORK), width=12, height=8))
        .with_panel(grid("p99 and p99.9 against the cap", SQL(QUANTILES), width=12, height=8))
    )
