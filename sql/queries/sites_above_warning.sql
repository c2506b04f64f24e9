-- description: Sites by hours spent at or above their warning level (warn_ratio x cap) and at or above the cap
-- param: since_s UInt32 86400
-- param: until DateTime64(3,'UTC') now
--
-- From the per-minute rollup site_power_1m: each minute counts as the share of its samples
-- at or over the level, times 60 s (the worker writes a sample at least every second).
-- warn_ratio is the warning level / cap of the site's latest raw samples (last hour of
-- the window; NULL when the site has no cap or no samples then).
SELECT m.site AS site,
       m.region AS region,
       round(m.warn_s / 3600, 2) AS hours_above_warn,
       round(m.cap_s / 3600, 2) AS hours_above_cap,
       round(m.warn_s / 60, 1) AS minutes_above_warn,
       round(m.cap_s / 60, 1) AS minutes_above_cap,
       round(m.seen_minutes / 60, 2) AS hours_observed,
       round(m.peak_w / 1e6, 3) AS peak_mw,
       round(m.last_cap_w / 1e6, 3) AS cap_mw,
       nullIf(round(r.ratio, 3), 0) AS warn_ratio
FROM (
    SELECT site,
           argMax(minute_region, minute) AS region,
           sum(minute_warn_s) AS warn_s,
           sum(minute_cap_s) AS cap_s,
           count() AS seen_minutes,
           max(minute_max_w) AS peak_w,
           argMax(minute_cap_w, minute) AS last_cap_w
    FROM (
        SELECT site,
               minute,
               any(region) AS minute_region,
               sum(above_warn) / sum(samples) * 60 AS minute_warn_s,
               sum(above_cap) / sum(samples) * 60 AS minute_cap_s,
               max(max_w) AS minute_max_w,
               argMaxMerge(cap_w) AS minute_cap_w
        FROM site_power_1m
        WHERE minute >= {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
          AND minute < {until:DateTime64(3,'UTC')}
        GROUP BY site, minute
    )
    GROUP BY site
) AS m
LEFT JOIN (
    SELECT site, argMax(warn_w / site_power.cap_w, ts) AS ratio
    FROM site_power
    WHERE ts >= greatest({until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32}),
                         {until:DateTime64(3,'UTC')} - toIntervalSecond(3600))
      AND ts < {until:DateTime64(3,'UTC')}
      AND site_power.cap_w > 0
    GROUP BY site
) AS r ON r.site = m.site
ORDER BY m.warn_s DESC, m.cap_s DESC, site;
