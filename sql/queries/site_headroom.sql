-- description: Site power against its cap over time: average and peak MW, cap, least headroom and time over the warning level per bucket
-- param: site String ''
-- param: since_s UInt32 86400
-- param: bucket_s UInt32 300
-- param: until DateTime64(3,'UTC') now
--
-- One row per site (all sites when site is '') and bucket of bucket_s seconds, from the
-- per-minute rollup site_power_1m (so buckets are whole minutes: under 60 s acts as 60 s).
-- avg_mw is the sample-weighted mean; pct_above_warn and
-- pct_above_cap are the shares of samples at or over the warning level and the cap.
SELECT site,
       toStartOfInterval(minute, toIntervalSecond({bucket_s:UInt32})) AS bucket,
       round(sum(sum_w) / sum(samples) / 1e6, 4) AS avg_mw,
       round(max(max_w) / 1e6, 4) AS peak_mw,
       round(argMaxMerge(cap_w) / 1e6, 4) AS cap_mw,
       round(min(min_headroom_w) / 1e6, 4) AS min_headroom_mw,
       round(sum(above_warn) / sum(samples) * 100, 1) AS pct_above_warn,
       round(sum(above_cap) / sum(samples) * 100, 1) AS pct_above_cap
FROM site_power_1m
WHERE ({site:String} = '' OR site = {site:String})
  AND minute >= {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
  AND minute < {until:DateTime64(3,'UTC')}
GROUP BY site, bucket
ORDER BY site, bucket;
