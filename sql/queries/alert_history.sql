-- description: Alert episodes in the window: when each started and resolved, and how long it took to resolve
-- param: site String ''
-- param: rule String ''
-- param: since_s UInt32 86400
-- param: until DateTime64(3,'UTC') now
-- param: limit UInt32 500
--
-- One row per episode (one fingerprint's firing and resolved events share starts_at)
-- that overlaps the window, newest first; test alerts are left out. starts_at is when the
-- condition began; time_to_resolve_s is NULL while the episode still fires. value and
-- threshold are those of the firing event, summary that of the latest. domain is the
-- power domain (feed, hall, row) of a domain's cap alert, '' for a site's own alerts.
SELECT starts_at,
       ends_at,
       last_status AS status,
       rule_name AS rule,
       severity_name AS severity,
       site_name AS site,
       domain_name AS domain,
       subject,
       peer,
       fire_value AS value,
       fire_threshold AS threshold,
       if(last_status = 'resolved',
          (toUnixTimestamp64Milli(ends_at) - toUnixTimestamp64Milli(starts_at)) / 1000,
          NULL) AS time_to_resolve_s,
       last_summary AS summary,
       fingerprint
FROM (
    SELECT fingerprint,
           starts_at,
           max(alerts.ends_at) AS ends_at,
           argMax(status, seq) AS last_status,
           any(rule) AS rule_name,
           any(severity) AS severity_name,
           any(site) AS site_name,
           any(alerts.domain) AS domain_name,
           any(if(link != '', link, rack)) AS subject,
           any(peer_site) AS peer,
           argMin(value, seq) AS fire_value,
           argMin(threshold, seq) AS fire_threshold,
           argMax(summary, seq) AS last_summary
    FROM alerts FINAL
    WHERE test = 0
      AND ({site:String} = '' OR site = {site:String})
      AND ({rule:String} = '' OR rule = {rule:String})
      AND starts_at < {until:DateTime64(3,'UTC')}
    GROUP BY fingerprint, starts_at
)
WHERE ends_at IS NULL
   OR ends_at >= {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
ORDER BY starts_at DESC, fingerprint
LIMIT {limit:UInt32};
