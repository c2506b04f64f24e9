-- description: GPU utilization against power per site, vendor and model over time (mean busy % and watts per GPU per bucket)
-- param: site String ''
-- param: since_s UInt32 86400
-- param: bucket_s UInt32 300
-- param: until DateTime64(3,'UTC') now
--
-- From the per-minute rollup gpu_1m; one row per site, vendor, model and bucket, the
-- points of the report's utilization-vs-power chart.
SELECT site,
       vendor,
       model,
       toStartOfInterval(minute, toIntervalSecond({bucket_s:UInt32})) AS bucket,
       uniqMerge(gpus) AS gpu_count,
       round(sum(sum_util) / sum(samples), 2) AS avg_util_pct,
       round(sum(sum_power_w) / sum(samples), 1) AS avg_power_w
FROM gpu_1m
WHERE ({site:String} = '' OR site = {site:String})
  AND minute >= {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
  AND minute < {until:DateTime64(3,'UTC')}
GROUP BY site, vendor, model, bucket
ORDER BY site, vendor, model, bucket;
