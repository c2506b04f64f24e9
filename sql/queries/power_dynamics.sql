-- description: Power that moves, per site: largest 1 s and 10 s ramps, swing, the band with the largest oscillation, load drops
-- param: site String ''
-- param: since_s UInt32 86400
-- param: until DateTime64(3,'UTC') now
--
-- From wave_features (the sites' own rows, domain '') and load_drops over the window.
-- max_ramp_1s_mw / max_ramp_10s_mw: the largest change of the site's load within 1 s /
-- 10 s; max_swing_mw: the largest peak-to-peak of a feature window; top_band and
-- max_band_mw: the frequency band with the largest peak amplitude, and that amplitude
-- (dominant_hz: the dominant frequency when it was read); unknown_pct: the share of the
-- site's cells whose load was unknown (a meter past its hold, a shard late past its hold).
SELECT f.site AS site,
       f.region AS region,
       f.strides AS strides,
       round(f.ramp_1s / 1e6, 3) AS max_ramp_1s_mw,
       round(f.ramp_10s / 1e6, 3) AS max_ramp_10s_mw,
       round(f.swing / 1e6, 3) AS max_swing_mw,
       b.top_band AS top_band,
       round(b.band_w / 1e6, 3) AS max_band_mw,
       round(b.dominant_hz, 3) AS dominant_hz,
       round(100 * (1 - f.known / nullIf(f.cells, 0)), 3) AS unknown_pct,
       ifNull(d.drops, 0) AS load_drops,
       round(ifNull(d.worst, 0) * 100, 1) AS worst_drop_pct
FROM (
    SELECT site, any(region) AS region, count() AS strides, sum(cells) AS cells,
           sum(known_cells) AS known, max(ramp_1s_w) AS ramp_1s, max(ramp_10s_w) AS ramp_10s,
           max(swing_w) AS swing
    FROM wave_features FINAL
    WHERE domain = ''
      AND ts > {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
      AND ts <= {until:DateTime64(3,'UTC')}
      AND ({site:String} = '' OR site = {site:String})
    GROUP BY site
) AS f
LEFT JOIN (
    SELECT site, argMax(band, amplitude) AS top_band, max(amplitude) AS band_w,
           argMax(dominant_hz, amplitude) AS dominant_hz
    FROM (
        SELECT site, dominant_hz, concat(toString(lo), '-', toString(hi), ' Hz') AS band,
               amplitude
        FROM wave_features FINAL
        ARRAY JOIN band_lo_hz AS lo, band_hi_hz AS hi, band_w AS amplitude
        WHERE domain = '' AND amplitude IS NOT NULL
          AND ts > {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
          AND ts <= {until:DateTime64(3,'UTC')}
          AND ({site:String} = '' OR site = {site:String})
    )
    GROUP BY site
) AS b ON b.site = f.site
LEFT JOIN (
    SELECT site, count() AS drops, max(lost_ratio) AS worst
    FROM load_drops FINAL
    WHERE at >= {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
      AND at < {until:DateTime64(3,'UTC')}
    GROUP BY site
) AS d ON d.site = f.site
ORDER BY max_ramp_1s_mw DESC, site
