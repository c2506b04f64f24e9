-- description: Power domains (feeds, halls, rows) against their caps: average and peak MW, cap, least headroom, coverage
-- param: site String ''
-- param: domain String ''
-- param: since_s UInt32 86400
-- param: until DateTime64(3,'UTC') now
--
-- One row per site and power domain (all when site / domain are ''), over the window,
-- from the per-minute rollup domain_power_1m. peak_pct_of_cap is the peak against the
-- cap in force at the end of the window; min_coverage is the worst share of the
-- domain's racks reporting in any minute; max_estimated_mw the most power counted at
-- last known values for silent racks; minutes_above_cap counts the minutes with a
-- sample at or over the cap. Sorted by the least headroom first.
SELECT site,
       domain,
       round(sum(sum_w) / sum(samples) / 1e6, 4) AS avg_mw,
       round(max(max_w) / 1e6, 4) AS peak_mw,
       round(argMaxMerge(cap_w) / 1e6, 4) AS cap_mw,
       round(max(max_w) / argMaxMerge(cap_w) * 100, 1) AS peak_pct_of_cap,
       round(min(min_headroom_w) / 1e6, 4) AS min_headroom_mw,
       round(sum(above_cap) / sum(samples) * 100, 1) AS pct_above_cap,
       uniqExactIf(minute, above_cap > 0) AS minutes_above_cap,
       round(min(min_coverage), 3) AS min_coverage,
       round(max(max_estimated_w) / 1e6, 4) AS max_estimated_mw
FROM domain_power_1m
WHERE ({site:String} = '' OR site = {site:String})
  AND ({domain:String} = '' OR domain = {domain:String})
  AND minute >= {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
  AND minute < {until:DateTime64(3,'UTC')}
GROUP BY site, domain
ORDER BY min_headroom_mw ASC, site, domain;
