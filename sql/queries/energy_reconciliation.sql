-- description: Rack energy per hour: GPU energy against the rack PDU's, and what no GPU accounts for (unattributed)
-- param: site String ''
-- param: rack String ''
-- param: since_s UInt32 86400
-- param: until DateTime64(3,'UTC') now
-- param: until_s UInt32 0
--
-- gpu_energy_1h (the rack's GPUs, integrated per GPU) against rack_energy_1h (its PDU,
-- integrated per rack), per rack and hour, windowed as job_energy. unattributed_kwh =
-- pdu_kwh - gpu_kwh: what the PDU metered that no GPU reading accounts for (hosts, fans,
-- NICs, GPUs that did not report); job_kwh is the GPU energy a job claims. The unknown
-- columns are each side's gaps (not in the known figures), so a rack whose meters fell
-- silent shows it there, not as unattributed energy.
WITH {until:DateTime64(3,'UTC')} - toIntervalSecond({until_s:UInt32}) AS window_end,
     window_end - toIntervalSecond({since_s:UInt32}) AS window_start
SELECT site,
       rack,
       hour,
       domains,
       round(pdu_j / 3.6e6, 6) AS pdu_kwh,
       round(gpu_j / 3.6e6, 6) AS gpu_kwh,
       round(job_j / 3.6e6, 6) AS job_kwh,
       round((pdu_j - gpu_j) / 3.6e6, 6) AS unattributed_kwh,
       round((pdu_j - gpu_j) / nullIf(pdu_j, 0) * 100, 2) AS unattributed_pct,
       round(pdu_unknown_j / 3.6e6, 6) AS pdu_unknown_kwh,
       round(gpu_unknown_j / 3.6e6, 6) AS gpu_unknown_kwh
FROM (
    SELECT site, rack, hour, argMax(domains, energy_j) AS domains, sum(energy_j) AS pdu_j,
           sum(unknown_j) AS pdu_unknown_j
    FROM rack_energy_1h
    WHERE ({site:String} = '' OR site = {site:String})
      AND ({rack:String} = '' OR rack = {rack:String})
      AND hour >= toStartOfHour(window_start) AND hour < window_end
    GROUP BY site, rack, hour
) AS pdu
FULL OUTER JOIN (
    SELECT site, rack, hour, sum(energy_j) AS gpu_j, sumIf(energy_j, job != '') AS job_j,
           sum(unknown_j) AS gpu_unknown_j
    FROM gpu_energy_1h
    WHERE ({site:String} = '' OR site = {site:String})
      AND ({rack:String} = '' OR rack = {rack:String})
      AND hour >= toStartOfHour(window_start) AND hour < window_end
    GROUP BY site, rack, hour
) AS gpus USING (site, rack, hour)
ORDER BY site, rack, hour;
