-- description: Fleet incidents: load drops at several sites of one region within fleet_within_s, with their evidence timeline
-- param: site String ''
-- param: since_s UInt32 604800
-- param: until DateTime64(3,'UTC') now
--
-- One row per incident that started in the window (site: only those it took part in).
-- lost_mw is the load the sites lost together (before - after, summed); the timeline is
-- each site's drop relative to the first, as the fleet_load_drop alert said it.
SELECT region,
       start_at,
       sites,
       length(sites) AS site_count,
       round(lost_w / 1e6, 3) AS lost_mw,
       round((toUnixTimestamp64Milli(arrayMax(drop_at)) - toUnixTimestamp64Milli(start_at)) / 1000, 3)
           AS span_s,
       timeline
FROM fleet_incidents FINAL
WHERE start_at >= {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
  AND start_at < {until:DateTime64(3,'UTC')}
  AND ({site:String} = '' OR has(sites, {site:String}))
ORDER BY start_at DESC
