-- description: One rack's peak power per minute: a rack profile for the headroom advisor
-- param: site String ''
-- param: rack String ''
-- param: since_s UInt32 604800
-- param: until DateTime64(3,'UTC') now
--
-- From rack_power_1m: the highest reading of the rack in each minute.
SELECT minute, max(max_w) AS max_w
FROM rack_power_1m
WHERE site = {site:String} AND rack = {rack:String}
  AND minute >= {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
  AND minute < {until:DateTime64(3,'UTC')}
GROUP BY minute
ORDER BY minute;
