-- description: Fleet MW ledger: power now, peak, cap and headroom per site, per region and for the whole fleet
-- param: since_s UInt32 86400
-- param: until DateTime64(3,'UTC') now
--
-- Read from the per-minute rollup site_power_1m (the raw series has a row per site per
-- second). Rows: one per site, one per region ('region'), one for the fleet ('fleet').
-- * now_mw: the site's average power in its latest minute of the window (last_minute says
--   which; an old one means the site stopped reporting).
-- * peak_mw: a site's highest sample; for a region or the fleet, the coincident peak: the
--   highest sum of per-minute site averages.
-- * cap_mw: the cap in force at the site's latest minute; regions and the fleet add caps up.
-- * headroom_mw = cap - now over the sites that have a cap; pct_of_cap = now / cap over them.
WITH
minutes AS (
    SELECT site,
           minute,
           any(region) AS site_region,
           sum(sum_w) / sum(samples) AS avg_w,
           max(max_w) AS top_w,
           argMaxMerge(cap_w) AS cap_at_w
    FROM site_power_1m
    WHERE minute >= {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
      AND minute < {until:DateTime64(3,'UTC')}
    GROUP BY site, minute
),
sites AS (
    SELECT site,
           argMax(site_region, minute) AS region_name,
           argMax(avg_w, minute) AS now_w,
           max(top_w) AS peak_w,
           argMax(cap_at_w, minute) AS site_cap_w,
           max(minute) AS latest_minute
    FROM minutes
    GROUP BY site
),
coincident AS (
    SELECT site_region AS region_name, max(total_w) AS peak_w
    FROM (SELECT site_region, minute, sum(avg_w) AS total_w
          FROM minutes GROUP BY site_region, minute)
    GROUP BY site_region
),
fleet_coincident AS (
    SELECT max(total_w) AS peak_w
    FROM (SELECT minute, sum(avg_w) AS total_w FROM minutes GROUP BY minute)
),
ledger_rows AS (
    SELECT 'site' AS level,
           region_name AS region,
           site,
           now_w,
           peak_w,
           site_cap_w AS cap_total_w,
           site_cap_w - now_w AS headroom_w,
           if(site_cap_w IS NULL, NULL, now_w) AS capped_now_w,
           latest_minute
    FROM sites
    UNION ALL
    SELECT 'region', s.region_name, '', sum(s.now_w), any(c.peak_w), sum(s.site_cap_w),
           sum(s.site_cap_w - s.now_w), sum(if(s.site_cap_w IS NULL, NULL, s.now_w)),
           max(s.latest_minute)
    FROM sites AS s
    LEFT JOIN coincident AS c ON c.region_name = s.region_name
    GROUP BY s.region_name
    UNION ALL
    SELECT 'fleet', '', '', sum(now_w), (SELECT peak_w FROM fleet_coincident), sum(site_cap_w),
           sum(site_cap_w - now_w), sum(if(site_cap_w IS NULL, NULL, now_w)), max(latest_minute)
    FROM sites
    HAVING count() > 0
)
SELECT level,
       region,
       site,
       round(now_w / 1e6, 3) AS now_mw,
       round(peak_w / 1e6, 3) AS peak_mw,
       round(cap_total_w / 1e6, 3) AS cap_mw,
       round(headroom_w / 1e6, 3) AS headroom_mw,
       round(capped_now_w / cap_total_w * 100, 1) AS pct_of_cap,
       latest_minute AS last_minute
FROM ledger_rows
ORDER BY level = 'fleet', region, level = 'region', site;
