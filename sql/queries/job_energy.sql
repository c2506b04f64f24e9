-- description: Energy per job: kWh known and unknown, GPU-hours, capped hours, kWh per GPU-hour, with tenant, priority and accelerator
-- param: site String ''
-- param: since_s UInt32 86400
-- param: until DateTime64(3,'UTC') now
-- param: until_s UInt32 0
--
-- From the hourly rollup gpu_energy_1h, which the worker's per-sample integration fills
-- (docs/energy.md). The window ends until_s seconds before `until` and spans since_s
-- seconds before that, in whole hours: from the hour holding its start up to its end.
-- kwh is known energy (readings at most stale_after_s apart); unknown_kwh is the energy
-- of longer gaps, sized at the last known power and never added to kwh; gpu_hours are
-- the GPU-seconds covered by known intervals, unknown_gpu_hours those in gaps; gpus the
-- distinct GPUs that worked for the job; capped_hours the GPU-hours held down for power
-- (software power cap, hardware slowdown, power brake). The row with job '' is GPU
-- energy no job claims. tenant, priority and accelerator are the ones that drew most of
-- the job's energy.
WITH {until:DateTime64(3,'UTC')} - toIntervalSecond({until_s:UInt32}) AS window_end,
     window_end - toIntervalSecond({since_s:UInt32}) AS window_start
SELECT site,
       job,
       argMax(tenant, e_j) AS tenant,
       argMax(priority, e_j) AS priority,
       round(sum(e_j) / 3.6e6, 6) AS kwh,
       round(sum(u_j) / 3.6e6, 6) AS unknown_kwh,
       round(sum(g_s) / 3600, 4) AS gpu_hours,
       round(sum(gap) / 3600, 4) AS unknown_gpu_hours,
       uniqMerge(gpu_set) AS gpus,
       round(sum(c_s) / 3600, 4) AS capped_hours,
       round(sum(e_j) / 3.6e6 / nullIf(sum(g_s) / 3600, 0), 4) AS kwh_per_gpu_hour,
       argMax(accelerator, e_j) AS accelerator,
       min(h) AS first_hour,
       max(h) AS last_hour
FROM (
    SELECT site, job, tenant, priority, hour AS h,
           trim(concat(vendor, ' ', model)) AS accelerator,
           sum(energy_j) AS e_j, sum(unknown_j) AS u_j, sum(gpu_s) AS g_s,
           sum(gpu_energy_1h.gap_s) AS gap, sum(capped_s) AS c_s, uniqMergeState(gpus) AS gpu_set
    FROM gpu_energy_1h
    WHERE ({site:String} = '' OR site = {site:String})
      AND hour >= toStartOfHour(window_start) AND hour < window_end
    GROUP BY site, job, tenant, priority, hour, vendor, model
)
GROUP BY site, job
ORDER BY kwh DESC, site, job;
