-- description: Packet loss per link: packets sent and dropped, loss %, and the worst minute
-- param: site String ''
-- param: link_class String ''
-- param: since_s UInt32 86400
-- param: until DateTime64(3,'UTC') now
--
-- From the per-minute rollup link_1m, whose deltas skip counter resets (a counter that
-- goes down is a new baseline, never loss). loss_pct = dropped / sent x 100 over the
-- window; worst_minute_loss_pct is the highest loss of a single minute with traffic.
-- link_class: '' (all), 'wan' or 'fabric'.
SELECT site,
       link,
       link_class,
       peer_site,
       sum(minute_tx) AS tx_packets,
       sum(minute_dropped) AS dropped_packets,
       round(sum(minute_dropped) / nullIf(sum(minute_tx), 0) * 100, 6) AS loss_pct,
       round(max(minute_loss) * 100, 6) AS worst_minute_loss_pct,
       argMax(minute, minute_loss) AS worst_minute,
       sum(minute_resets) AS counter_resets
FROM (
    SELECT site,
           link,
           link_class,
           peer_site,
           minute,
           sum(d_tx) AS minute_tx,
           sum(d_dropped) AS minute_dropped,
           sum(resets) AS minute_resets,
           minute_dropped / nullIf(minute_tx, 0) AS minute_loss
    FROM link_1m
    WHERE ({site:String} = '' OR site = {site:String})
      AND ({link_class:String} = '' OR link_class = {link_class:String})
      AND minute >= {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
      AND minute < {until:DateTime64(3,'UTC')}
    GROUP BY site, link, link_class, peer_site, minute
)
GROUP BY site, link, link_class, peer_site
ORDER BY sum(minute_dropped) / nullIf(sum(minute_tx), 0) DESC NULLS LAST, site, link;
