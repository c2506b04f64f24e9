-- description: How close each site and power domain runs to its cap: p99 and p99.9 of its per-minute peaks, and stranded MW
-- param: site String ''
-- param: since_s UInt32 604800
-- param: until DateTime64(3,'UTC') now
--
-- Over the per-minute peaks (max_w of site_power_1m and domain_power_1m; domain '' is
-- the site itself): p99_mw and p999_mw are the 99th and 99.9th percentiles (exact),
-- stranded_mw = cap - p99.9 (provisioned, and in 999 minutes of 1000 never drawn).
-- How many more racks fit: megawatch headroom.
SELECT site,
       domain,
       count() AS minutes,
       round(argMax(cap, minute) / 1e6, 4) AS cap_mw,
       round(max(peak) / 1e6, 4) AS peak_mw,
       round(quantileExact(0.99)(peak) / 1e6, 4) AS p99_mw,
       round(quantileExact(0.999)(peak) / 1e6, 4) AS p999_mw,
       round(greatest(argMax(cap, minute) - quantileExact(0.999)(peak), 0) / 1e6, 4) AS stranded_mw
FROM (
    SELECT site, '' AS domain, minute, max(max_w) AS peak, argMaxMerge(cap_w) AS cap
    FROM site_power_1m
    WHERE ({site:String} = '' OR site = {site:String})
      AND minute >= {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
      AND minute < {until:DateTime64(3,'UTC')}
    GROUP BY site, minute
    UNION ALL
    SELECT site, CAST(domain AS String) AS domain, minute, max(max_w) AS peak, argMaxMerge(cap_w) AS cap
    FROM domain_power_1m
    WHERE ({site:String} = '' OR site = {site:String})
      AND minute >= {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
      AND minute < {until:DateTime64(3,'UTC')}
    GROUP BY site, domain, minute
)
GROUP BY site, domain
ORDER BY stranded_mw DESC, site, domain;
