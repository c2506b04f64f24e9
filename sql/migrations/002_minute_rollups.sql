-- Per-minute rollups: AggregatingMergeTree tables fed by materialized views with
-- explicit TO tables (so the data lives in a named table that can be altered, and the
-- view can be dropped and recreated without losing it).
--
-- Read SimpleAggregateFunction columns with sum/max/min and AggregateFunction columns
-- with -Merge, grouping by the key, e.g.
--   SELECT site, rack, minute, sum(sum_w) / sum(samples) AS avg_w, max(max_w) AS max_w
--   FROM rack_power_1m GROUP BY site, rack, minute
-- `minute` is toStartOfMinute of the source's time column as DateTime64(3, 'UTC').
-- The rollups carry their own deduplication window: on chDB (ClickHouse 26.x) a view's
-- target table deduplicates the blocks of a retried insert itself, so without it a
-- retried insert dropped by the raw table would still be counted here.
-- Source columns whose name is also an output alias are qualified with the table name
-- (site_power.cap_w): in ClickHouse an alias shadows a column of the same name.

CREATE TABLE IF NOT EXISTS rack_power_1m
(
    site    LowCardinality(String),
    rack    LowCardinality(String),
    minute  DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    samples SimpleAggregateFunction(sum, UInt64),
    sum_w   SimpleAggregateFunction(sum, Float64),
    max_w   SimpleAggregateFunction(max, Float64),
    min_w   SimpleAggregateFunction(min, Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (site, rack, minute)
TTL toDateTime(minute) + toIntervalDay(730)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Rack power per minute (retention: MEGAWATCH_ROLLUP_RETENTION_DAYS)';

CREATE MATERIALIZED VIEW IF NOT EXISTS rack_power_1m_mv TO rack_power_1m AS
SELECT
    site,
    rack,
    toDateTime64(toStartOfMinute(ts), 3, 'UTC') AS minute,
    count() AS samples,
    sum(power_w) AS sum_w,
    max(power_w) AS max_w,
    min(power_w) AS min_w
FROM rack_power
GROUP BY site, rack, minute;

-- cap_w: the cap in force at the end of the minute (argMax by ts), read with
-- argMaxMerge(cap_w). above_warn / above_cap count samples at or over the threshold.
CREATE TABLE IF NOT EXISTS site_power_1m
(
    site           LowCardinality(String),
    region         LowCardinality(String),
    minute         DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    samples        SimpleAggregateFunction(sum, UInt64),
    sum_w          SimpleAggregateFunction(sum, Float64),
    max_w          SimpleAggregateFunction(max, Float64),
    min_headroom_w SimpleAggregateFunction(min, Nullable(Float64)),
    cap_w          AggregateFunction(argMax, Nullable(Float64), DateTime64(3, 'UTC')),
    above_warn     SimpleAggregateFunction(sum, UInt64),
    above_cap      SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (site, region, minute)
TTL toDateTime(minute) + toIntervalDay(730)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Site power per minute (retention: MEGAWATCH_ROLLUP_RETENTION_DAYS)';

CREATE MATERIALIZED VIEW IF NOT EXISTS site_power_1m_mv TO site_power_1m AS
SELECT
    site,
    region,
    toDateTime64(toStartOfMinute(ts), 3, 'UTC') AS minute,
    count() AS samples,
    sum(total_w) AS sum_w,
    max(total_w) AS max_w,
    min(headroom_w) AS min_headroom_w,
    argMaxState(site_power.cap_w, ts) AS cap_w,
    countIf(total_w >= warn_w) AS above_warn,
    countIf(total_w >= site_power.cap_w) AS above_cap
FROM site_power
GROUP BY site, region, minute;

-- gpus: distinct (host, gpu) pairs seen, read with uniqMerge(gpus). Idle: util < 5 %.
CREATE TABLE IF NOT EXISTS gpu_1m
(
    site             LowCardinality(String),
    rack             LowCardinality(String),
    vendor           LowCardinality(String),
    model            LowCardinality(String),
    minute           DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    samples          SimpleAggregateFunction(sum, UInt64),
    sum_util         SimpleAggregateFunction(sum, Float64),
    max_util         SimpleAggregateFunction(max, Float32),
    sum_power_w      SimpleAggregateFunction(sum, Float64),
    idle_samples     SimpleAggregateFunction(sum, UInt64),
    idle_sum_power_w SimpleAggregateFunction(sum, Float64),
    gpus             AggregateFunction(uniq, String, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (site, rack, vendor, model, minute)
TTL toDateTime(minute) + toIntervalDay(730)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'GPU utilization and power per minute (retention: MEGAWATCH_ROLLUP_RETENTION_DAYS)';

CREATE MATERIALIZED VIEW IF NOT EXISTS gpu_1m_mv TO gpu_1m AS
SELECT
    site,
    rack,
    vendor,
    model,
    toDateTime64(toStartOfMinute(ts), 3, 'UTC') AS minute,
    count() AS samples,
    sum(util_pct) AS sum_util,
    max(util_pct) AS max_util,
    sum(power_w) AS sum_power_w,
    countIf(util_pct < 5) AS idle_samples,
    sumIf(power_w, util_pct < 5) AS idle_sum_power_w,
    uniqState(CAST(host AS String), CAST(gpu AS String)) AS gpus
FROM gpu_samples
GROUP BY site, rack, vendor, model, minute;

-- d_* are sums of the per-sample deltas (0 on baseline samples, so a counter reset
-- never shows up as traffic or loss); resets counts samples flagged reset.
CREATE TABLE IF NOT EXISTS link_1m
(
    site           LowCardinality(String),
    link           LowCardinality(String),
    link_class     LowCardinality(String),
    peer_site      LowCardinality(String),
    minute         DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    samples        SimpleAggregateFunction(sum, UInt64),
    d_tx           SimpleAggregateFunction(sum, UInt64),
    d_rx           SimpleAggregateFunction(sum, UInt64),
    d_dropped      SimpleAggregateFunction(sum, UInt64),
    resets         SimpleAggregateFunction(sum, UInt64),
    max_loss_ratio SimpleAggregateFunction(max, Nullable(Float64))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (site, link, link_class, peer_site, minute)
TTL toDateTime(minute) + toIntervalDay(730)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Link traffic, drops and loss per minute (retention: MEGAWATCH_ROLLUP_RETENTION_DAYS)';

CREATE MATERIALIZED VIEW IF NOT EXISTS link_1m_mv TO link_1m AS
SELECT
    site,
    link,
    link_class,
    peer_site,
    toDateTime64(toStartOfMinute(ts), 3, 'UTC') AS minute,
    count() AS samples,
    sum(link_samples.d_tx) AS d_tx,
    sum(link_samples.d_rx) AS d_rx,
    sum(link_samples.d_dropped) AS d_dropped,
    sum(reset) AS resets,
    max(loss_ratio) AS max_loss_ratio
FROM link_samples
GROUP BY site, link, link_class, peer_site, minute;
