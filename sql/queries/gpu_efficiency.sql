-- description: GPU utilization and power by vendor and model: mean busy %, mean watts and watts per utilization point
-- param: site String ''
-- param: since_s UInt32 86400
-- param: until DateTime64(3,'UTC') now
--
-- From the per-minute rollup gpu_1m. Means are over samples; watts_per_util_pt is mean
-- power / mean utilization (so idle GPUs, drawing power at no work, raise it); idle_pct is
-- the share of samples under 5 % busy.
SELECT vendor,
       model,
       uniqMerge(gpus) AS gpu_count,
       sum(samples) AS sample_count,
       round(sum(sum_util) / sum(samples), 2) AS avg_util_pct,
       round(sum(sum_power_w) / sum(samples), 1) AS avg_power_w,
       round(sum(sum_power_w) / nullIf(sum(sum_util), 0), 3) AS watts_per_util_pt,
       round(sum(idle_samples) / sum(samples) * 100, 1) AS idle_pct
FROM gpu_1m
WHERE ({site:String} = '' OR site = {site:String})
  AND minute >= {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
  AND minute < {until:DateTime64(3,'UTC')}
GROUP BY vendor, model
ORDER BY avg_power_w DESC, vendor, model;
