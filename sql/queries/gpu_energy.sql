-- description: Energy per GPU: kWh known and unknown, hours, capped seconds, its job and priority (from the raw samples)
-- param: site String ''
-- param: since_s UInt32 3600
-- param: until DateTime64(3,'UTC') now
-- param: until_s UInt32 0
-- param: limit UInt32 100
--
-- From gpu_samples (raw samples: keep the window short, or name a site), the GPUs that
-- used most first. Each sample carries the interval it closes (docs/energy.md): kwh is
-- its known energy, unknown_kwh the energy of gaps (last known power x gap), hours the
-- known seconds; job and priority are the ones the GPU spent most energy under.
WITH {until:DateTime64(3,'UTC')} - toIntervalSecond({until_s:UInt32}) AS window_end
SELECT site,
       rack,
       host,
       gpu,
       argMax(job, energy_j) AS job,
       argMax(priority, energy_j) AS priority,
       round(sum(energy_j) / 3.6e6, 6) AS kwh,
       round(sum(unknown_j) / 3.6e6, 6) AS unknown_kwh,
       round(sum(interval_s) / 3600, 4) AS hours,
       round(sumIf(interval_s, bitAnd(held_reasons, 140) != 0), 3) AS capped_s
FROM gpu_samples
WHERE ({site:String} = '' OR site = {site:String})
  AND ts >= window_end - toIntervalSecond({since_s:UInt32}) AND ts < window_end
GROUP BY site, rack, host, gpu
ORDER BY kwh DESC, rack, host, gpu
LIMIT {limit:UInt32};
