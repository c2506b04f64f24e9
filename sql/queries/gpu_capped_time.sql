-- description: Seconds each GPU spent capped for power, with its job and priority (from the raw samples)
-- param: site String ''
-- param: since_s UInt32 3600
-- param: until DateTime64(3,'UTC') now
-- param: until_s UInt32 0
-- param: limit UInt32 100
--
-- From gpu_samples (raw samples: keep the window short, or name a site), the GPUs with the most capped
-- seconds first: each sample's interval counts when the reasons of the reading before
-- it held a power reason (software power cap 0x4, hardware slowdown 0x8, power brake
-- 0x80 = 140). job and priority are the ones the GPU spent most capped seconds under.
WITH {until:DateTime64(3,'UTC')} - toIntervalSecond({until_s:UInt32}) AS window_end
SELECT site,
       rack,
       host,
       gpu,
       argMax(job, capped) AS job,
       argMax(priority, capped) AS priority,
       round(sum(capped), 3) AS capped_s,
       round(sum(interval_s), 3) AS known_s,
       round(sum(capped) / nullIf(sum(interval_s), 0) * 100, 2) AS capped_pct
FROM (
    SELECT site, rack, host, gpu, job, priority, interval_s,
           if(bitAnd(held_reasons, 140) != 0, interval_s, 0) AS capped
    FROM gpu_samples
    WHERE ({site:String} = '' OR site = {site:String})
      AND ts >= window_end - toIntervalSecond({since_s:UInt32}) AND ts < window_end
)
GROUP BY site, rack, host, gpu
HAVING capped_s > 0
ORDER BY capped_s DESC, rack, host, gpu
LIMIT {limit:UInt32};
