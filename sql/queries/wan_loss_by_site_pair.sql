-- description: WAN packet loss per pair of sites, both directions and every link between them added up
-- param: since_s UInt32 86400
-- param: until DateTime64(3,'UTC') now
--
-- From the per-minute rollup link_1m, WAN links with a peer site only. Each side reports
-- the packets it sent and dropped, so adding both sides gives the pair's traffic.
SELECT least(site, peer_site) AS site_a,
       greatest(site, peer_site) AS site_b,
       uniqExact(site, link) AS links,
       sum(d_tx) AS tx_packets,
       sum(d_dropped) AS dropped_packets,
       round(sum(d_dropped) / nullIf(sum(d_tx), 0) * 100, 6) AS loss_pct
FROM link_1m
WHERE link_class = 'wan'
  AND peer_site != ''
  AND minute >= {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
  AND minute < {until:DateTime64(3,'UTC')}
GROUP BY site_a, site_b
ORDER BY sum(d_dropped) / nullIf(sum(d_tx), 0) DESC NULLS LAST, site_a, site_b;
