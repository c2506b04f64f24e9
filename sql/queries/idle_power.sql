-- description: Energy burned by GPUs under 5 % utilization, per site and rack, in MWh
-- param: site String ''
-- param: since_s UInt32 86400
-- param: until DateTime64(3,'UTC') now
-- param: limit UInt32 50
--
-- From the per-minute rollup gpu_1m. Within a minute each sample stands for
-- 60 s x GPUs / samples (the sampling interval of the rack's GPUs), so idle energy is the
-- idle samples' power times that; idle_gpu_hours counts the GPU time under 5 % busy and
-- idle_share_pct the idle part of the rack's GPU energy.
SELECT site,
       rack,
       round(sum(idle_j) / 3.6e9, 6) AS idle_mwh,
       round(sum(idle_gpu_s) / 3600, 2) AS idle_gpu_hours,
       round(sum(total_j) / 3.6e9, 6) AS gpu_mwh,
       round(sum(idle_j) / nullIf(sum(total_j), 0) * 100, 1) AS idle_share_pct,
       max(minute_gpus) AS gpu_count
FROM (
    SELECT site,
           rack,
           minute,
           uniqMerge(gpus) AS minute_gpus,
           60 * minute_gpus / sum(samples) AS sample_s,
           sum(idle_sum_power_w) * sample_s AS idle_j,
           sum(idle_samples) * sample_s AS idle_gpu_s,
           sum(sum_power_w) * sample_s AS total_j
    FROM gpu_1m
    WHERE ({site:String} = '' OR site = {site:String})
      AND minute >= {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
      AND minute < {until:DateTime64(3,'UTC')}
    GROUP BY site, rack, minute
)
GROUP BY site, rack
HAVING sum(idle_j) > 0
ORDER BY sum(idle_j) DESC, site, rack
LIMIT {limit:UInt32};
