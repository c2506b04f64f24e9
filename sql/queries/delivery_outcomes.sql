-- description: Alert deliveries by receiver and outcome: attempts, alerts concerned, last attempt and latest error
-- param: since_s UInt32 86400
-- param: until DateTime64(3,'UTC') now
--
-- From alert_deliveries (one row per alert per attempt). outcome: delivered, retry,
-- failed (rejected, not retried) or gave_up (retried until MEGAWATCH_NOTIFY_GIVE_UP_S).
SELECT receiver,
       receiver_kind,
       outcome,
       count() AS attempts,
       uniqExact(fingerprint, seq) AS alerts,
       round(avg(latency_ms), 1) AS avg_latency_ms,
       min(at) AS first_at,
       max(at) AS last_at,
       argMax(error, at) AS latest_error
FROM alert_deliveries
WHERE at >= {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
  AND at < {until:DateTime64(3,'UTC')}
GROUP BY receiver, receiver_kind, outcome
ORDER BY receiver, outcome;
