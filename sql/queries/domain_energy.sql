-- description: Energy per power domain and hour: its racks' PDU kWh, their GPUs' kWh, unattributed and unknown
-- param: site String ''
-- param: domain String ''
-- param: since_s UInt32 86400
-- param: until DateTime64(3,'UTC') now
-- param: until_s UInt32 0
--
-- A rack belongs to its leaf domain and every domain above it: rack_energy_1h keeps the
-- path (feed-a/hall-1/row-3), so a domain's energy is the sum over the racks whose path
-- names it; domain '' gives one row per leaf path (a rack whose path changed within an
-- hour counts under the one that metered most). Windowed as job_energy (whole hours).
-- gpu_kwh are the GPUs of those racks (gpu_energy_1h), unattributed_kwh = pdu - GPUs.
WITH {until:DateTime64(3,'UTC')} - toIntervalSecond({until_s:UInt32}) AS window_end,
     window_end - toIntervalSecond({since_s:UInt32}) AS window_start
SELECT pdu.site AS site,
       if({domain:String} = '', pdu.domains, {domain:String}) AS domain,
       pdu.hour AS hour,
       round(sum(pdu.pdu_j) / 3.6e6, 6) AS pdu_kwh,
       round(sum(gpus.gpu_j) / 3.6e6, 6) AS gpu_kwh,
       round((sum(pdu.pdu_j) - sum(gpus.gpu_j)) / 3.6e6, 6) AS unattributed_kwh,
       round(sum(pdu.pdu_unknown_j) / 3.6e6, 6) AS pdu_unknown_kwh,
       count() AS racks
FROM (
    SELECT site, rack, hour, argMax(domains, energy_j) AS domains, sum(energy_j) AS pdu_j,
           sum(unknown_j) AS pdu_unknown_j
    FROM rack_energy_1h
    WHERE ({site:String} = '' OR site = {site:String})
      AND hour >= toStartOfHour(window_start) AND hour < window_end
    GROUP BY site, rack, hour
    HAVING {domain:String} = '' OR has(splitByChar('/', domains), {domain:String})
) AS pdu
LEFT JOIN (
    SELECT site, rack, hour, sum(energy_j) AS gpu_j
    FROM gpu_energy_1h
    WHERE ({site:String} = '' OR site = {site:String})
      AND hour >= toStartOfHour(window_start) AND hour < window_end
    GROUP BY site, rack, hour
) AS gpus ON pdu.site = gpus.site AND pdu.rack = gpus.rack AND pdu.hour = gpus.hour
GROUP BY site, domain, hour
ORDER BY site, domain, hour;
