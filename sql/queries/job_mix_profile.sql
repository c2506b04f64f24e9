-- description: The power per rack of a recorded job mix, per hour: a rack profile for the headroom advisor
-- param: site String ''
-- param: jobs String ''
-- param: since_s UInt32 604800
-- param: until DateTime64(3,'UTC') now
--
-- jobs is a comma-separated list of job ids. Per hour and rack: the mix's share of the
-- rack's GPU energy (mix_j / gpu_j: how much of a rack the mix held) and the mix's GPU
-- energy scaled by the rack's PDU energy over its GPU energy (what hosts, fans and NICs
-- add to the GPUs). w_per_rack is the scaled energy over the rack-equivalents held, per
-- second: the mean power of one rack running the mix. Hourly, the rollups' resolution:
-- peaks within the hour are averaged out (rack_power_profile keeps a rack's per minute).
WITH splitByChar(',', replaceAll({jobs:String}, ' ', '')) AS wanted
SELECT hour,
       round(sum(mix_j / gpu_j), 3) AS racks,
       sum(mix_j * if(pdu_j > 0, pdu_j / gpu_j, 1)) / sum(mix_j / gpu_j) / 3600 AS w_per_rack
FROM (
    SELECT g.hour AS hour, g.mix_j AS mix_j, g.gpu_j AS gpu_j, p.pdu_j AS pdu_j
    FROM (
        SELECT hour, rack, sumIf(energy_j, has(wanted, CAST(job AS String))) AS mix_j,
               sum(energy_j) AS gpu_j
        FROM gpu_energy_1h
        WHERE site = {site:String}
          AND hour >= {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
          AND hour < {until:DateTime64(3,'UTC')}
        GROUP BY hour, rack
        HAVING mix_j > 0
    ) AS g
    LEFT JOIN (
        SELECT hour, rack, sum(energy_j) AS pdu_j
        FROM rack_energy_1h
        WHERE site = {site:String}
          AND hour >= {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
          AND hour < {until:DateTime64(3,'UTC')}
        GROUP BY hour, rack
    ) AS p ON g.hour = p.hour AND g.rack = p.rack
)
GROUP BY hour
ORDER BY hour;
