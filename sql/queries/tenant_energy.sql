-- description: Energy per tenant and priority class: kWh known and unknown, GPU-hours, jobs, capped share
-- param: site String ''
-- param: since_s UInt32 86400
-- param: until DateTime64(3,'UTC') now
-- param: until_s UInt32 0
--
-- From gpu_energy_1h, windowed as job_energy (whole hours). capped_pct is the share of
-- the GPU-hours held down for power; tenant '' is GPU energy no tenant claims.
WITH {until:DateTime64(3,'UTC')} - toIntervalSecond({until_s:UInt32}) AS window_end,
     window_end - toIntervalSecond({since_s:UInt32}) AS window_start
SELECT site,
       tenant,
       priority,
       uniqExactIf(job, job != '') AS jobs,
       round(sum(energy_j) / 3.6e6, 6) AS kwh,
       round(sum(unknown_j) / 3.6e6, 6) AS unknown_kwh,
       round(sum(gpu_s) / 3600, 4) AS gpu_hours,
       round(sum(capped_s) / 3600, 4) AS capped_hours,
       round(sum(capped_s) / nullIf(sum(gpu_s), 0) * 100, 2) AS capped_pct
FROM gpu_energy_1h
WHERE ({site:String} = '' OR site = {site:String})
  AND hour >= toStartOfHour(window_start) AND hour < window_end
GROUP BY site, tenant, priority
ORDER BY kwh DESC, site, tenant, priority;
