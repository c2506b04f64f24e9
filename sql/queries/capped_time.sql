-- description: Time GPUs spent capped for power, per site and priority class, by reason
-- param: site String ''
-- param: since_s UInt32 86400
-- param: until DateTime64(3,'UTC') now
-- param: until_s UInt32 0
--
-- From gpu_energy_1h, windowed as job_energy (whole hours). A GPU is capped while a
-- reading's clock-event reasons hold a power reason until the next reading: software
-- power cap (NVML 0x4), hardware slowdown (0x8), power brake (0x80); capped_hours counts
-- any of them once. Per GPU: gpu_capped_time; per job: job_energy.
WITH {until:DateTime64(3,'UTC')} - toIntervalSecond({until_s:UInt32}) AS window_end,
     window_end - toIntervalSecond({since_s:UInt32}) AS window_start
SELECT site,
       priority,
       round(sum(gpu_s) / 3600, 4) AS gpu_hours,
       round(sum(capped_s) / 3600, 4) AS capped_hours,
       round(sum(capped_s) / nullIf(sum(gpu_s), 0) * 100, 2) AS capped_pct,
       round(sum(power_cap_s) / 3600, 4) AS power_cap_hours,
       round(sum(slowdown_s) / 3600, 4) AS slowdown_hours,
       round(sum(brake_s) / 3600, 4) AS brake_hours,
       uniqExactIf(job, job != '' AND capped_s > 0) AS capped_jobs
FROM gpu_energy_1h
WHERE ({site:String} = '' OR site = {site:String})
  AND hour >= toStartOfHour(window_start) AND hour < window_end
GROUP BY site, priority
ORDER BY capped_hours DESC, site, priority;
