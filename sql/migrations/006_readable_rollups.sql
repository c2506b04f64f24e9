-- Rollups readable with a plain SELECT (issue 15).
--
-- The per-minute tables of 002 hold partial aggregates: rows of one minute are merged in
-- the background, whenever ClickHouse gets to it, and cap_w / gpus are aggregate states
-- (`SELECT * FROM site_power_1m` cannot even print them). These views do the -Merge and
-- the GROUP BY, so every row is one finished minute with plain numbers:
--   SELECT * FROM site_power_per_minute WHERE site = 'ams-1' ORDER BY minute DESC LIMIT 10
-- Filters on site and minute are pushed into the view's scan. The coverage columns and
-- domain_power_1m come from 005.

CREATE VIEW IF NOT EXISTS site_power_per_minute AS
SELECT site,
       any(site_power_1m.region) AS region,
       minute,
       sum(site_power_1m.samples) AS samples,
       sum(site_power_1m.sum_w) / sum(site_power_1m.samples) AS avg_w,
       max(site_power_1m.max_w) AS max_w,
       argMaxMerge(site_power_1m.cap_w) AS cap_w,
       min(site_power_1m.min_headroom_w) AS min_headroom_w,
       sum(site_power_1m.above_warn) AS samples_above_warn,
       sum(site_power_1m.above_cap) AS samples_above_cap,
       min(site_power_1m.min_coverage) AS min_coverage,
       max(site_power_1m.max_estimated_w) AS max_estimated_w,
       max(site_power_1m.max_unknown_racks) AS max_unknown_racks,
       if(argMaxMerge(site_power_1m.cap_w) > 0,
          100 * sum(site_power_1m.sum_w) / sum(site_power_1m.samples) / argMaxMerge(site_power_1m.cap_w),
          NULL) AS avg_pct_of_cap
FROM site_power_1m
GROUP BY site, minute;

CREATE VIEW IF NOT EXISTS domain_power_per_minute AS
SELECT site,
       domain,
       minute,
       sum(domain_power_1m.samples) AS samples,
       sum(domain_power_1m.sum_w) / sum(domain_power_1m.samples) AS avg_w,
       max(domain_power_1m.max_w) AS max_w,
       argMaxMerge(domain_power_1m.cap_w) AS cap_w,
       min(domain_power_1m.min_headroom_w) AS min_headroom_w,
       sum(domain_power_1m.above_warn) AS samples_above_warn,
       sum(domain_power_1m.above_cap) AS samples_above_cap,
       min(domain_power_1m.min_coverage) AS min_coverage,
       max(domain_power_1m.max_estimated_w) AS max_estimated_w
FROM domain_power_1m
GROUP BY site, domain, minute;

CREATE VIEW IF NOT EXISTS rack_power_per_minute AS
SELECT site,
       rack,
       minute,
       sum(rack_power_1m.samples) AS samples,
       sum(rack_power_1m.sum_w) / sum(rack_power_1m.samples) AS avg_w,
       max(rack_power_1m.max_w) AS max_w,
       min(rack_power_1m.min_w) AS min_w
FROM rack_power_1m
GROUP BY site, rack, minute;

CREATE VIEW IF NOT EXISTS gpu_per_minute AS
SELECT site,
       rack,
       vendor,
       model,
       minute,
       sum(gpu_1m.samples) AS samples,
       uniqMerge(gpu_1m.gpus) AS gpus,
       sum(gpu_1m.sum_util) / sum(gpu_1m.samples) AS avg_util_pct,
       max(gpu_1m.max_util) AS max_util_pct,
       sum(gpu_1m.sum_power_w) / sum(gpu_1m.samples) AS avg_power_w,
       sum(gpu_1m.idle_samples) AS idle_samples,
       sum(gpu_1m.idle_sum_power_w) / greatest(sum(gpu_1m.idle_samples), 1) AS avg_idle_power_w
FROM gpu_1m
GROUP BY site, rack, vendor, model, minute;

CREATE VIEW IF NOT EXISTS link_per_minute AS
SELECT site,
       link,
       link_class,
       peer_site,
       minute,
       sum(link_1m.samples) AS samples,
       sum(link_1m.d_tx) AS d_tx,
       sum(link_1m.d_rx) AS d_rx,
       sum(link_1m.d_dropped) AS d_dropped,
       sum(link_1m.resets) AS resets,
       if(sum(link_1m.d_tx) > 0, sum(link_1m.d_dropped) / sum(link_1m.d_tx), NULL) AS loss_ratio,
       max(link_1m.max_loss_ratio) AS max_loss_ratio
FROM link_1m
GROUP BY site, link, link_class, peer_site, minute;
