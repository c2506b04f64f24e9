-- description: Work per joule: tokens (or samples) per joule per served model, accelerator and site (and job)
-- param: site String ''
-- param: since_s UInt32 86400
-- param: until DateTime64(3,'UTC') now
-- param: until_s UInt32 0
-- param: by_job UInt8 0
--
-- work_1h (deltas of the work counters of telemetry.work) joined per site, hour and host
-- (counters of an inference server) or job (counters of a job) with the GPU energy of
-- that host or job in that hour (gpu_energy_1h), windowed as job_energy. The accelerator
-- is the vendor and model that drew most of that energy. work_per_joule = work / known
-- GPU joules; unknown_kwh says how much energy of those hours is in gaps (then the ratio
-- flatters). by_job=1 splits the rows by job (a host's counters take the host's job).
WITH {until:DateTime64(3,'UTC')} - toIntervalSecond({until_s:UInt32}) AS window_end,
     window_end - toIntervalSecond({since_s:UInt32}) AS window_start
SELECT site,
       served_model,
       counter,
       vendor,
       model,
       job_key AS job,
       sum(w_work) AS work,
       round(sum(e_j) / 3.6e6, 6) AS kwh,
       round(sum(u_j) / 3.6e6, 6) AS unknown_kwh,
       round(sum(w_work) / nullIf(sum(e_j), 0), 6) AS work_per_joule,
       round(sum(e_j) / nullIf(sum(w_work), 0), 6) AS joules_per_work
FROM (
    SELECT w.site AS site, w.served_model AS served_model, w.counter AS counter,
           e.vendor AS vendor, e.model AS model,
           if({by_job:UInt8} = 1, if(w.job != '', w.job, e.job), '') AS job_key,
           w.work AS w_work, e.e_j AS e_j, e.u_j AS u_j
    FROM (
        SELECT site, hour, if(host != '', concat('host:', host), concat('job:', job)) AS owner,
               job, counter, served_model, sum(work_1h.work) AS work
        FROM work_1h
        WHERE ({site:String} = '' OR site = {site:String})
          AND hour >= toStartOfHour(window_start) AND hour < window_end
        GROUP BY site, hour, host, job, counter, served_model
    ) AS w
    INNER JOIN (
        SELECT site, hour, concat('host:', host) AS owner, argMax(job, energy_j) AS job,
               sum(energy_j) AS e_j, sum(unknown_j) AS u_j,
               argMax(vendor, energy_j) AS vendor, argMax(model, energy_j) AS model
        FROM gpu_energy_1h
        WHERE ({site:String} = '' OR site = {site:String})
          AND hour >= toStartOfHour(window_start) AND hour < window_end
        GROUP BY site, hour, host
        UNION ALL
        SELECT site, hour, concat('job:', job) AS owner, job,
               sum(energy_j) AS e_j, sum(unknown_j) AS u_j,
               argMax(vendor, energy_j) AS vendor, argMax(model, energy_j) AS model
        FROM gpu_energy_1h
        WHERE ({site:String} = '' OR site = {site:String})
          AND hour >= toStartOfHour(window_start) AND hour < window_end
          AND job != ''
        GROUP BY site, hour, job
    ) AS e
    ON w.site = e.site AND w.hour = e.hour AND w.owner = e.owner
)
GROUP BY site, served_model, counter, vendor, model, job_key
ORDER BY site, served_model, counter, work_per_joule DESC;
