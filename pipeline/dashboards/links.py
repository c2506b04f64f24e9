"""Links: packet loss by link and by site pair, WAN first; then link health beyond loss:
post-FEC BER, FEC, flaps, PFC pause share and optics (docs/link-health.md)."""

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


# --- link health (migration 009): from link_samples, the links that send it ---------------
WORST_BER = """
SELECT $__timeInterval(ts) AS time,
       concat(site, ' ', link) AS link_name,
       sum(d_symbol_errors) / sum(d_rx_bits) AS ber
FROM link_samples
WHERE $__timeFilter(ts) AND d_rx_bits > 0
  AND (site, link) IN (SELECT site, link FROM link_samples
                       WHERE $__timeFilter(ts) AND d_rx_bits > 0
                       GROUP BY site, link
                       ORDER BY sum(d_fec_uncorrectable) DESC,
                                sum(d_symbol_errors) / sum(d_rx_bits) DESC LIMIT 10)
GROUP BY time, link_name
ORDER BY time
"""

WORST_PAUSE = """
SELECT $__timeInterval(ts) AS time,
       concat(site, ' ', link) AS link_name,
       100 * max(pause_share) AS pause_pct
FROM link_samples
WHERE $__timeFilter(ts) AND pause_share IS NOT NULL
  AND (site, link) IN (SELECT site, link FROM link_samples
                       WHERE $__timeFilter(ts) AND pause_share IS NOT NULL
                       GROUP BY site, link ORDER BY max(pause_share) DESC LIMIT 10)
GROUP BY time, link_name
ORDER BY time
"""

WEAKEST_OPTICS = """
SELECT $__timeInterval(ts) AS time,
       concat(site, ' ', link) AS link_name,
       min(arrayMin(rx_power_dbm)) AS rx_dbm
FROM link_samples
WHERE $__timeFilter(ts) AND notEmpty(rx_power_dbm)
  AND (site, link) IN (SELECT site, link FROM link_samples
                       WHERE $__timeFilter(ts) AND notEmpty(rx_power_dbm)
                       GROUP BY site, link ORDER BY min(arrayMin(rx_power_dbm)) LIMIT 10)
GROUP BY time, link_name
ORDER BY time
"""

HEALTH = """
SELECT site, link, link_class, peer_site,
       sum(d_symbol_errors) / nullIf(sum(d_rx_bits), 0) AS post_fec_ber,
       sum(d_fec_uncorrectable) AS fec_uncorrectable,
       sum(d_fec_corrected) AS fec_corrected,
       sum(d_transitions) AS transitions,
       countIf(carrier_up = 0) AS samples_down,
       round(100 * max(pause_share), 2) AS peak_pause_pct,
       round(toFloat64(minIf(arrayMin(rx_power_dbm), notEmpty(rx_power_dbm))), 2) AS rx_min_dbm,
       argMaxIf(rx_power_low_warn_dbm, ts, rx_power_low_warn_dbm IS NOT NULL) AS rx_low_warn_dbm
FROM link_samples
WHERE $__timeFilter(ts)
  AND (d_rx_bits > 0 OR symbol_errors IS NOT NULL OR fec_uncorrectable_codewords IS NOT NULL
       OR carrier_transitions IS NOT NULL OR carrier_up IS NOT NULL
       OR pause_share IS NOT NULL OR notEmpty(rx_power_dbm))
GROUP BY site, link, link_class, peer_site
ORDER BY fec_uncorrectable DESC, post_fec_ber DESC NULLS LAST, transitions DESC,
         peak_pause_pct DESC, rx_min_dbm ASC
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
        .with_row(row("Link health beyond loss"))
        .with_panel(
            series(
                "Post-FEC BER: the 10 worst links",
                [SQL(WORST_BER, "time_series")],
                "sci",
                description="post-FEC errors / bits received; link_ber warns at 1e-10",
            )
        )
        .with_panel(
            series(
                "PFC pause share: the 10 most paused links",
                [SQL(WORST_PAUSE, "time_series")],
                "percent",
                description="the most paused priority's share of the pfc_storm window",
            )
        )
        .with_panel(
            series(
                "Optics: the 10 weakest rx lanes",
                [SQL(WEAKEST_OPTICS, "time_series")],
                "dBm",
                width=24,
                description="the weakest lane's rx power; optics_drift compares it with "
                "the module's own thresholds and its fall per day",
            )
        )
        .with_panel(
            grid(
                "Link health, worst first: FEC, BER, flaps, pauses, optics",
                SQL(HEALTH),
                width=24,
                height=12,
            )
        )
    )
