-- description: Site energy per hour: facility, IT (rack PDUs), GPUs, overhead, unattributed and PUE
-- param: site String ''
-- param: since_s UInt32 86400
-- param: until DateTime64(3,'UTC') now
-- param: until_s UInt32 0
--
-- Per site and hour, windowed as job_energy: it_kwh is the racks' PDU energy
-- (rack_energy_1h), gpu_kwh the GPUs' (gpu_energy_1h), the facility columns the meters
-- of telemetry.facility (facility_energy_1h) by kind. facility_kwh is the utility
-- meters' energy where the site has one reporting that hour, else IT plus cooling, UPS
-- and distribution losses and other loads. pue = facility_kwh / it_kwh (NULL without a
-- facility meter); overhead_kwh = facility - IT; unattributed_kwh = IT - GPUs. Unknown
-- energy (gaps) of each side is in its own column, never in the known figures.
WITH {until:DateTime64(3,'UTC')} - toIntervalSecond({until_s:UInt32}) AS window_end,
     window_end - toIntervalSecond({since_s:UInt32}) AS window_start
SELECT site,
       hour,
       round(it_j / 3.6e6, 6) AS it_kwh,
       round(gpu_j / 3.6e6, 6) AS gpu_kwh,
       round((it_j - gpu_j) / 3.6e6, 6) AS unattributed_kwh,
       round(facility_j / 3.6e6, 6) AS facility_kwh,
       round((facility_j - it_j) / 3.6e6, 6) AS overhead_kwh,
       round(facility_j / nullIf(it_j, 0), 4) AS pue,
       round(cooling_j / 3.6e6, 6) AS cooling_kwh,
       round(ups_j / 3.6e6, 6) AS ups_loss_kwh,
       round(dist_j / 3.6e6, 6) AS distribution_loss_kwh,
       round(other_j / 3.6e6, 6) AS other_kwh,
       round(it_unknown_j / 3.6e6, 6) AS it_unknown_kwh,
       round(gpu_unknown_j / 3.6e6, 6) AS gpu_unknown_kwh,
       round(facility_unknown_j / 3.6e6, 6) AS facility_unknown_kwh
FROM (
    SELECT site, hour,
           it_j, it_unknown_j, gpu_j, gpu_unknown_j,
           cooling_j, ups_j, dist_j, other_j, facility_unknown_j,
           if(utility_n > 0, utility_j,
              if(cooling_n + ups_n + dist_n + other_n > 0, it_j + cooling_j + ups_j + dist_j + other_j, NULL))
               AS facility_j
    FROM (
        SELECT site, hour, sum(energy_j) AS it_j, sum(unknown_j) AS it_unknown_j
        FROM rack_energy_1h
        WHERE ({site:String} = '' OR site = {site:String})
          AND hour >= toStartOfHour(window_start) AND hour < window_end
        GROUP BY site, hour
    ) AS it
    FULL OUTER JOIN (
        SELECT site, hour, sum(energy_j) AS gpu_j, sum(unknown_j) AS gpu_unknown_j
        FROM gpu_energy_1h
        WHERE ({site:String} = '' OR site = {site:String})
          AND hour >= toStartOfHour(window_start) AND hour < window_end
        GROUP BY site, hour
    ) AS gpus USING (site, hour)
    FULL OUTER JOIN (
        SELECT site, hour,
               sumIf(energy_j, meter_kind = 'utility') AS utility_j,
               countIf(meter_kind = 'utility') AS utility_n,
               sumIf(energy_j, meter_kind = 'cooling') AS cooling_j,
               countIf(meter_kind = 'cooling') AS cooling_n,
               sumIf(energy_j, meter_kind = 'ups_loss') AS ups_j,
               countIf(meter_kind = 'ups_loss') AS ups_n,
               sumIf(energy_j, meter_kind = 'distribution_loss') AS dist_j,
               countIf(meter_kind = 'distribution_loss') AS dist_n,
               sumIf(energy_j, meter_kind = 'other') AS other_j,
               countIf(meter_kind = 'other') AS other_n,
               sum(unknown_j) AS facility_unknown_j
        FROM facility_energy_1h
        WHERE ({site:String} = '' OR site = {site:String})
          AND hour >= toStartOfHour(window_start) AND hour < window_end
        GROUP BY site, hour
    ) AS facility USING (site, hour)
)
ORDER BY site, hour;
