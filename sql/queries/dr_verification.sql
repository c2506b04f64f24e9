-- description: Demand response verified, per event: the baseline (its method and days), actual and curtailed MWh, time to target, compliance
-- param: site String ''
-- param: since_s UInt32 604800
-- param: until DateTime64(3,'UTC') now
--
-- Events that started in the window, of one site or region (site = its id) or all.
-- Read from dr_events (the event as measured: target, baseline method and days) and
-- dr_tracking (its cells, stride by stride). Energies are over the measured cells (load
-- known, and for a reduction its baseline known): actual_mwh, baseline_mwh, target_mwh;
-- curtailed_mwh = baseline - actual, requested_mwh = baseline - target, delivered_pct =
-- curtailed / requested. compliance_pct: the measured cells after dr_grace_s at or under
-- target (within dr_tolerance), of all measured cells after it. time_to_target_s: from
-- the start to the first cell on target (NULL: never reached). coverage: the share of the
-- event's time measured (a worker down, unknown load, no baseline: unmeasured). A NULL
-- baseline: none could be made (baseline_method says why), so nothing is priced.
SELECT e.event_id AS event_id,
       e.scope AS scope,
       e.is_region AS is_region,
       e.start_at AS start_at,
       e.end_at AS end_at,
       e.ceiling_mw AS ceiling_mw,
       e.reduction_pct AS reduction_pct,
       e.program AS program,
       e.cancelled AS cancelled,
       e.baseline_method AS baseline_method,
       e.baseline_days AS baseline_days,
       e.baseline_mw AS baseline_mw,
       round(t.actual_wms / 3.6e12, 6) AS actual_mwh,
       round(t.baseline_wms / 3.6e12, 6) AS baseline_mwh,
       round(t.target_wms / 3.6e12, 6) AS target_mwh,
       round((t.baseline_wms - t.actual_wms) / 3.6e12, 6) AS curtailed_mwh,
       round((t.baseline_wms - t.target_wms) / 3.6e12, 6) AS requested_mwh,
       round(100 * (t.baseline_wms - t.actual_wms) / nullIf(t.baseline_wms - t.target_wms, 0), 3)
           AS delivered_pct,
       100 * t.on_cells / nullIf(t.graced_cells, 0) AS compliance_pct,
       (toUnixTimestamp64Milli(t.reached_at) - toUnixTimestamp64Milli(e.start_at)) / 1000
           AS time_to_target_s,
       t.known_ms / nullIf(toUnixTimestamp64Milli(e.end_at) - toUnixTimestamp64Milli(e.start_at), 0)
           AS coverage
FROM (
    SELECT *
    FROM dr_events FINAL
    WHERE start_at >= {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
      AND start_at < {until:DateTime64(3,'UTC')}
      AND ({site:String} = '' OR scope = {site:String})
) AS e
LEFT JOIN (
    SELECT event_id,
           sum(known_cells * (toUnixTimestamp64Milli(ts) - toUnixTimestamp64Milli(start_at)) / cells)
               AS known_ms,
           sum(graced_cells) AS graced_cells,
           sum(on_cells) AS on_cells,
           min(reached_at) AS reached_at,
           sum(actual_wms) AS actual_wms,
           if(countIf(baseline_wms IS NULL) > 0, NULL, sum(baseline_wms)) AS baseline_wms,
           if(countIf(target_wms IS NULL) > 0, NULL, sum(target_wms)) AS target_wms
    FROM dr_tracking FINAL
    GROUP BY event_id
) AS t ON t.event_id = e.event_id
ORDER BY e.start_at DESC, e.event_id
