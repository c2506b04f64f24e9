-- description: A site's or power domain's peak power per minute and its cap: the history the headroom advisor reads
-- param: site String ''
-- param: domain String ''
-- param: since_s UInt32 604800
-- param: until DateTime64(3,'UTC') now
--
-- domain '' is the site itself (site_power_1m), else one of its power domains
-- (domain_power_1m). max_w is the highest evaluated total of the minute (reported plus
-- estimated power); cap_w the cap in force at the end of the minute.
SELECT minute, max_w, cap_w
FROM (
    SELECT minute, max(max_w) AS max_w, argMaxMerge(cap_w) AS cap_w
    FROM site_power_1m
    WHERE {domain:String} = '' AND site = {site:String}
      AND minute >= {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
      AND minute < {until:DateTime64(3,'UTC')}
    GROUP BY minute
    UNION ALL
    SELECT minute, max(max_w) AS max_w, argMaxMerge(cap_w) AS cap_w
    FROM domain_power_1m
    WHERE {domain:String} != '' AND site = {site:String} AND domain = {domain:String}
      AND minute >= {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
      AND minute < {until:DateTime64(3,'UTC')}
    GROUP BY minute
)
ORDER BY minute;
