-- description: Link health per link: post-FEC BER, FEC codewords, flaps, PFC pause share, rx power min and trend
-- param: site String ''
-- param: link_class String ''
-- param: since_s UInt32 86400
-- param: until DateTime64(3,'UTC') now
--
-- From link_samples, the links that sent link-health fields in the window (009):
-- ber = post-FEC errors / bits counted (the deltas skip counter resets), else the mean
-- effective BER the device reported; fec_* the codewords corrected and uncorrectable;
-- transitions the carrier transitions (a flap is 2), down_samples the samples with the
-- carrier down; worst_pause_pct the most paused priority's share of the time the
-- samples cover (rx: paused by the peer, tx: pausing it), peak_pause_pct the highest
-- windowed share the pfc_storm rule saw; rx_power_min_dbm the weakest lane's lowest
-- reading, rx_power_trend_db_day its least-squares slope (dB per day) over the window,
-- rx_low_warn_dbm the module's own low warning threshold. Worst first.
SELECT site,
       link,
       link_class,
       peer_site,
       count() AS samples,
       sum(d_rx_bits) AS bits_counted,
       sum(d_symbol_errors) AS post_fec_errors,
       coalesce(sum(d_symbol_errors) / nullIf(sum(d_rx_bits), 0), avg(effective_ber)) AS ber,
       sum(d_fec_corrected) AS fec_corrected,
       sum(d_fec_uncorrectable) AS fec_uncorrectable,
       sum(d_transitions) AS transitions,
       countIf(carrier_up = 0) AS down_samples,
       greatest(toUnixTimestamp64Milli(max(ts)) - toUnixTimestamp64Milli(min(ts)), 1) * 1000
           AS covered_us,
       round(100 * greatest(arrayMax(arrayConcat([0], mapValues(sumMap(d_rx_pause_us)))),
                            arrayMax(arrayConcat([0], mapValues(sumMap(d_tx_pause_us)))))
             / covered_us, 3) AS worst_pause_pct,
       round(100 * max(pause_share), 3) AS peak_pause_pct,
       round(toFloat64(minIf(arrayMin(rx_power_dbm), notEmpty(rx_power_dbm))), 2) AS rx_power_min_dbm,
       -- days before the window's end: near zero, so that the sums keep their precision
       round(simpleLinearRegressionIf(
                 (toUnixTimestamp64Milli(ts) - toUnixTimestamp64Milli({until:DateTime64(3,'UTC')}))
                     / 86400000,
                 arrayMin(rx_power_dbm),
                 notEmpty(rx_power_dbm)).1, 3) AS rx_power_trend_db_day,
       argMaxIf(rx_power_low_warn_dbm, ts, rx_power_low_warn_dbm IS NOT NULL) AS rx_low_warn_dbm
FROM link_samples
WHERE ({site:String} = '' OR site = {site:String})
  AND ({link_class:String} = '' OR link_class = {link_class:String})
  AND ts >= {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
  AND ts < {until:DateTime64(3,'UTC')}
  AND (fec_uncorrectable_codewords IS NOT NULL OR symbol_errors IS NOT NULL
       OR effective_ber IS NOT NULL OR carrier_transitions IS NOT NULL
       OR link_down_events IS NOT NULL OR carrier_up IS NOT NULL
       OR notEmpty(rx_pause_us) OR notEmpty(tx_pause_us) OR notEmpty(rx_power_dbm))
GROUP BY site, link, link_class, peer_site
ORDER BY fec_uncorrectable DESC, ber DESC NULLS LAST, transitions DESC,
         worst_pause_pct DESC, rx_power_trend_db_day ASC, site, link;
