-- description: Sites by time spent at or above their warning level (warn_ratio x cap) and at or above the cap
-- param: since_s UInt32 86400
-- param: until DateTime64(3,'UTC') now
--
-- From the per-second series site_power, not the minute rollup: a sample holds until the
-- next sample of its site (at most 60 s: a site silent longer is not counted; the last
-- sample of the window holds 1 s, one evaluation tick). So a 50 s breach is 50 s, where
-- minute buckets said 1.8 minutes. seconds_above_* are exact; hours_/minutes_ are the
-- same time rounded for reading. warn_ratio is warning level / cap of the site's latest
-- sample with a cap (NULL when it has none). now_mw is the site's latest evaluated power
-- in the window (what its cap alert judged), now_at when it was evaluated.
WITH samples AS (
    SELECT site,
           region,
           ts,
           total_w,
           warn_w,
           site_power.cap_w AS cap_at_w,
           least(dateDiff('millisecond', ts,
                          least(leadInFrame(ts, 1, ts + toIntervalSecond(1)) OVER following,
                                {until:DateTime64(3,'UTC')})),
                 60000) / 1000 AS held_s
    FROM site_power
    WHERE ts >= {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
      AND ts < {until:DateTime64(3,'UTC')}
    WINDOW following AS (PARTITION BY site ORDER BY ts ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING)
),
per_site AS (
    SELECT site,
           argMax(region, ts) AS site_region,
           sumIf(held_s, total_w >= warn_w) AS warn_s,
           sumIf(held_s, total_w >= cap_at_w) AS cap_s,
           sum(held_s) AS observed_s,
           max(total_w) AS peak_w,
           argMax(total_w, ts) AS latest_w,
           max(ts) AS latest_at,
           argMax(cap_at_w, ts) AS last_cap_w,
           argMaxIf(warn_w / cap_at_w, ts, cap_at_w > 0) AS ratio
    FROM samples
    GROUP BY site
)
SELECT site,
       site_region AS region,
       round(warn_s / 3600, 2) AS hours_above_warn,
       round(cap_s / 3600, 2) AS hours_above_cap,
       round(warn_s / 60, 1) AS minutes_above_warn,
       round(cap_s / 60, 1) AS minutes_above_cap,
       round(warn_s, 3) AS seconds_above_warn,
       round(cap_s, 3) AS seconds_above_cap,
       round(observed_s / 3600, 2) AS hours_observed,
       round(peak_w / 1e6, 3) AS peak_mw,
       round(last_cap_w / 1e6, 3) AS cap_mw,
       nullIf(round(ratio, 3), 0) AS warn_ratio,
       round(latest_w / 1e6, 3) AS now_mw,
       latest_at AS now_at
FROM per_site
ORDER BY warn_s DESC, cap_s DESC, site;
