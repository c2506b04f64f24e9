-- description: Alerts per rule and severity: episodes, still firing, mean and longest time to resolve (minutes)
-- param: site String ''
-- param: since_s UInt32 86400
-- param: until DateTime64(3,'UTC') now
--
-- Episodes (one fingerprint's firing and resolved events share starts_at) that started in
-- the window; test alerts are left out. Times to resolve are from starts_at (when the
-- condition began) to ends_at, over the resolved episodes.
SELECT rule_name AS rule,
       severity_name AS severity,
       count() AS episodes,
       countIf(last_status = 'firing') AS still_firing,
       uniqExact(site_name) AS sites,
       round(avgOrNullIf(resolve_s, last_status = 'resolved') / 60, 2) AS avg_minutes_to_resolve,
       round(maxOrNullIf(resolve_s, last_status = 'resolved') / 60, 2) AS max_minutes_to_resolve
FROM (
    SELECT fingerprint,
           starts_at,
           any(rule) AS rule_name,
           any(severity) AS severity_name,
           any(site) AS site_name,
           argMax(status, seq) AS last_status,
           (toUnixTimestamp64Milli(max(assumeNotNull(ends_at)))
            - toUnixTimestamp64Milli(starts_at)) / 1000 AS resolve_s
    FROM alerts FINAL
    WHERE test = 0
      AND ({site:String} = '' OR site = {site:String})
      AND starts_at >= {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
      AND starts_at < {until:DateTime64(3,'UTC')}
    GROUP BY fingerprint, starts_at
)
GROUP BY rule_name, severity_name
ORDER BY episodes DESC, rule, severity;
