-- description: Demand response, stride by stride: a site's or region's load against its target and baseline during its events
-- param: site String ''
-- param: since_s UInt32 86400
-- param: until DateTime64(3,'UTC') now
--
-- From dr_tracking: per event and stride (ts: its end), the mean of the measured cells'
-- actual, target and baseline load (MW), and the share of the stride measured. site:
-- the site or region the event asked (scope), or every event.
SELECT event_id,
       scope,
       ts,
       round(actual_wms / nullIf(known_ms, 0) / 1e6, 6) AS actual_mw,
       round(target_wms / nullIf(known_ms, 0) / 1e6, 6) AS target_mw,
       round(baseline_wms / nullIf(known_ms, 0) / 1e6, 6) AS baseline_mw,
       round(known_cells / cells, 4) AS measured
FROM (
    SELECT event_id, scope, ts, cells, known_cells, actual_wms, target_wms, baseline_wms,
           known_cells * (toUnixTimestamp64Milli(ts) - toUnixTimestamp64Milli(start_at)) / cells
               AS known_ms
    FROM dr_tracking FINAL
    WHERE ts > {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
      AND ts <= {until:DateTime64(3,'UTC')}
      AND ({site:String} = '' OR scope = {site:String})
)
ORDER BY event_id, ts
