-- description: Dead letters by topic and reason: how many, first and last seen, and the latest reason text
-- param: since_s UInt32 86400
-- param: until DateTime64(3,'UTC') now
--
-- From the dead_letters table (one row per rejected message or event, with its bytes).
SELECT topic,
       reason_code,
       count() AS dead_letters,
       min(received_at) AS first_at,
       max(received_at) AS last_at,
       argMax(reason, received_at) AS latest_reason
FROM dead_letters
WHERE received_at >= {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
  AND received_at < {until:DateTime64(3,'UTC')}
GROUP BY topic, reason_code
ORDER BY dead_letters DESC, topic, reason_code;
