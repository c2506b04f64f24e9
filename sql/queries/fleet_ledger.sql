-- description: Fleet MW ledger: power now (latest evaluation) and its age, 1-min average, peak, coincident peak, cap, headroom
-- param: since_s UInt32 86400
-- param: until DateTime64(3,'UTC') now
--
-- Read from the per-second series site_power: the worker writes a row per site at every
-- evaluation, holding the total its cap rule judged. Rows: one per site, one per region
-- ('region'), one for the fleet ('fleet').
-- * now_mw: the site's latest evaluated power in the window, the number its cap alert
--   uses; now_at is when it was evaluated and age_s how long before `until` that was (a
--   large age means the site stopped reporting). A region or the fleet adds its sites'
--   latest values up; its now_at and age_s are those of its oldest one.
-- * avg_1m_mw: the site's mean power over the 60 s up to its latest row; added up for a
--   region or the fleet.
-- * peak_mw: a site's highest power in the window (empty for a region or the fleet).
-- * coincident_peak_mw: the highest sum of the row's sites' power within one second (a
--   site's own peak for a site row), so a region never reads below any of its sites. A
--   site without a row in some second adds nothing to that second.
-- * cap_mw: the cap in force at the site's latest row; regions and the fleet add caps up.
-- * headroom_mw = cap - now over the sites that have a cap; pct_of_cap = now / cap over them.
WITH
sites AS (
    SELECT site,
           argMax(region, ts) AS region_name,
           argMax(total_w, ts) AS now_w,
           max(ts) AS now_at,
           max(total_w) AS peak_w,
           argMax(site_power.cap_w, ts) AS cap_at_w
    FROM site_power
    WHERE ts >= {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
      AND ts < {until:DateTime64(3,'UTC')}
    GROUP BY site
),
recent AS (
    SELECT p.site AS site, avg(p.total_w) AS avg_w
    FROM site_power AS p
    INNER JOIN sites AS s ON p.site = s.site
    WHERE p.ts > s.now_at - toIntervalSecond(60)
      AND p.ts <= s.now_at
      AND p.ts >= {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
      AND p.ts < {until:DateTime64(3,'UTC')}
    GROUP BY p.site
),
seconds AS (
    -- each site's latest row of every second
    SELECT site, region AS region_name, intDiv(toUnixTimestamp64Milli(ts), 1000) AS second, total_w
    FROM site_power
    WHERE ts >= {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
      AND ts < {until:DateTime64(3,'UTC')}
    ORDER BY site DESC, ts DESC
    LIMIT 1 BY site, second
),
coincident AS (
    SELECT group_key.1 AS group_level, group_key.2 AS group_region, max(second_w) AS coincident_w
    FROM (
        SELECT group_key, second, sum(region_w) AS second_w
        FROM (SELECT region_name, second, sum(total_w) AS region_w
              FROM seconds GROUP BY region_name, second)
        ARRAY JOIN [('region', region_name), ('fleet', '')] AS group_key
        GROUP BY group_key, second
    )
    GROUP BY group_key
),
ledger_rows AS (
    SELECT row_key.1 AS row_level,
           row_key.2 AS row_region,
           row_key.3 AS row_site,
           sum(s.now_w) AS now_total_w,
           min(s.now_at) AS oldest_at,
           sum(r.avg_w) AS avg_total_w,
           max(s.peak_w) AS top_w,
           sum(s.cap_at_w) AS cap_total_w,
           sum(s.cap_at_w - s.now_w) AS headroom_w,
           sum(if(s.cap_at_w IS NULL, NULL, s.now_w)) AS capped_now_w
    FROM sites AS s
    LEFT JOIN recent AS r ON r.site = s.site
    ARRAY JOIN [('site', s.region_name, s.site), ('region', s.region_name, ''), ('fleet', '', '')]
        AS row_key
    GROUP BY row_key
)
SELECT row_level AS level,
       row_region AS region,
       row_site AS site,
       round(now_total_w / 1e6, 3) AS now_mw,
       round(dateDiff('millisecond', oldest_at, {until:DateTime64(3,'UTC')}) / 1000, 1) AS age_s,
       round(avg_total_w / 1e6, 3) AS avg_1m_mw,
       round(if(row_level = 'site', top_w, NULL) / 1e6, 3) AS peak_mw,
       round(if(row_level = 'site', top_w, c.coincident_w) / 1e6, 3) AS coincident_peak_mw,
       round(cap_total_w / 1e6, 3) AS cap_mw,
       round(headroom_w / 1e6, 3) AS headroom_mw,
       round(capped_now_w / cap_total_w * 100, 1) AS pct_of_cap,
       oldest_at AS now_at
FROM ledger_rows
LEFT JOIN coincident AS c ON c.group_level = ledger_rows.row_level
                         AND c.group_region = ledger_rows.row_region
ORDER BY level = 'fleet', region, level = 'region', site;
