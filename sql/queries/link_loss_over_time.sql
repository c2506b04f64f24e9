-- description: Packet loss over time per link (WAN by default): packets sent and dropped and loss % per bucket
-- param: site String ''
-- param: link_class String 'wan'
-- param: since_s UInt32 86400
-- param: bucket_s UInt32 300
-- param: until DateTime64(3,'UTC') now
--
-- From the per-minute rollup link_1m; one row per link and bucket of bucket_s seconds.
-- link_class: 'wan', 'fabric' or '' (all).
SELECT site,
       link,
       link_class,
       peer_site,
       toStartOfInterval(minute, toIntervalSecond({bucket_s:UInt32})) AS bucket,
       sum(d_tx) AS tx_packets,
       sum(d_dropped) AS dropped_packets,
       round(sum(d_dropped) / nullIf(sum(d_tx), 0) * 100, 6) AS loss_pct
FROM link_1m
WHERE ({site:String} = '' OR site = {site:String})
  AND ({link_class:String} = '' OR link_class = {link_class:String})
  AND minute >= {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
  AND minute < {until:DateTime64(3,'UTC')}
GROUP BY site, link, link_class, peer_site, bucket
ORDER BY site, link, bucket;
