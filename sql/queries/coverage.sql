-- description: Telemetry coverage per site and bucket: worst coverage, most power estimated for silent racks, racks unknown
-- param: site String ''
-- param: since_s UInt32 86400
-- param: bucket_s UInt32 300
-- param: until DateTime64(3,'UTC') now
--
-- One row per site and bucket, from site_power_1m. min_coverage is the worst share of
-- racks reporting (fresh racks / known or expected racks) in the bucket; the estimated
-- share is the most power counted at last known values for silent racks, as a share of
-- the peak total; max_unknown_racks are racks silent past the hold (power unknown).
-- Buckets where every rack reported read min_coverage 1.
SELECT site,
       toStartOfInterval(minute, toIntervalSecond({bucket_s:UInt32})) AS bucket,
       round(min(min_coverage), 3) AS min_coverage,
       round(max(max_estimated_w) / 1e6, 4) AS max_estimated_mw,
       round(if(max(max_w) > 0, max(max_estimated_w) / max(max_w) * 100, 0), 1) AS max_estimated_pct,
       max(max_unknown_racks) AS max_unknown_racks
FROM site_power_1m
WHERE ({site:String} = '' OR site = {site:String})
  AND minute >= {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
  AND minute < {until:DateTime64(3,'UTC')}
GROUP BY site, bucket
ORDER BY site, bucket;
