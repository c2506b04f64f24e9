-- description: Racks drawing the most power: average and peak kW and energy (MWh) over the window
-- param: site String ''
-- param: since_s UInt32 86400
-- param: until DateTime64(3,'UTC') now
-- param: limit UInt32 20
--
-- From the per-minute rollup rack_power_1m. avg_kw is the sample-weighted mean;
-- energy_mwh adds each minute's average power over one minute, for the minutes with
-- readings (minutes_seen).
SELECT site,
       rack,
       round(sum(rack_sum_w) / sum(rack_samples) / 1e3, 2) AS avg_kw,
       round(max(rack_max_w) / 1e3, 2) AS peak_kw,
       round(sum(minute_avg_w) * 60 / 3.6e9, 4) AS energy_mwh,
       count() AS minutes_seen
FROM (
    SELECT site,
           rack,
           minute,
           sum(sum_w) AS rack_sum_w,
           sum(samples) AS rack_samples,
           max(max_w) AS rack_max_w,
           rack_sum_w / rack_samples AS minute_avg_w
    FROM rack_power_1m
    WHERE ({site:String} = '' OR site = {site:String})
      AND minute >= {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
      AND minute < {until:DateTime64(3,'UTC')}
    GROUP BY site, rack, minute
)
GROUP BY site, rack
ORDER BY avg_kw DESC, site, rack
LIMIT {limit:UInt32};
