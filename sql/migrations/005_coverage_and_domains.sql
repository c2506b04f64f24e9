-- Coverage and power domains (issue 11).
--
-- site_power separates what is known: total_w is reported_w (racks that reported within
-- the staleness window) + estimated_w (silent racks at their last known power, for the
-- hold time); unknown_racks are silent past the hold (their power is not in total_w);
-- coverage is fresh racks / known (or expected) racks. Rows written before this
-- migration read as fully reported: reported_w = total_w, coverage 1.

ALTER TABLE site_power ADD COLUMN IF NOT EXISTS reported_w Float64 DEFAULT total_w CODEC(Gorilla, ZSTD(1));
ALTER TABLE site_power ADD COLUMN IF NOT EXISTS estimated_w Float64 DEFAULT 0 CODEC(Gorilla, ZSTD(1));
ALTER TABLE site_power ADD COLUMN IF NOT EXISTS coverage Float32 DEFAULT 1 CODEC(ZSTD(1));
ALTER TABLE site_power ADD COLUMN IF NOT EXISTS unknown_racks UInt32 DEFAULT 0 CODEC(ZSTD(1));

-- The minute rollup keeps the worst coverage and the most estimated power of the minute.
-- A second view fills them (rather than replacing 002's view: a migration never drops
-- what a half-applied run or a cluster would need); its rows leave every other column at
-- its default (0 samples, NULL headroom, an empty cap state), which the readers' sum /
-- max / min / argMaxMerge ignore, so both views' rows of a minute read as one.
ALTER TABLE site_power_1m ADD COLUMN IF NOT EXISTS min_coverage SimpleAggregateFunction(min, Float32) DEFAULT 1;
ALTER TABLE site_power_1m ADD COLUMN IF NOT EXISTS max_estimated_w SimpleAggregateFunction(max, Float64) DEFAULT 0;
ALTER TABLE site_power_1m ADD COLUMN IF NOT EXISTS max_unknown_racks SimpleAggregateFunction(max, UInt32) DEFAULT 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS site_power_1m_coverage_mv TO site_power_1m AS
SELECT
    site,
    region,
    toDateTime64(toStartOfMinute(ts), 3, 'UTC') AS minute,
    min(site_power.coverage) AS min_coverage,
    max(site_power.estimated_w) AS max_estimated_w,
    max(site_power.unknown_racks) AS max_unknown_racks
FROM site_power
GROUP BY site, region, minute;

-- One row per power domain (feed, hall, row) per evaluation, as site_power per site.
CREATE TABLE IF NOT EXISTS domain_power
(
    site          LowCardinality(String),
    domain        LowCardinality(String),
    ts            DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    total_w       Float64 CODEC(Gorilla, ZSTD(1)),
    reported_w    Float64 CODEC(Gorilla, ZSTD(1)),
    estimated_w   Float64 CODEC(Gorilla, ZSTD(1)),
    cap_w         Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
    warn_w        Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
    headroom_w    Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
    coverage      Float32 CODEC(ZSTD(1)),
    racks         UInt32 CODEC(ZSTD(1)),
    stale_racks   UInt32 CODEC(ZSTD(1)),
    unknown_racks UInt32 CODEC(ZSTD(1)),
    warming       UInt8
)
ENGINE = MergeTree
PARTITION BY toDate(ts)
ORDER BY (site, domain, ts)
TTL toDateTime(ts) + toIntervalDay(90)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Per power domain totals, caps, headroom and coverage (retention: MEGAWATCH_RETENTION_DAYS)';

-- As site_power_1m: read cap_w with argMaxMerge(cap_w), the rest with sum/max/min.
CREATE TABLE IF NOT EXISTS domain_power_1m
(
    site            LowCardinality(String),
    domain          LowCardinality(String),
    minute          DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    samples         SimpleAggregateFunction(sum, UInt64),
    sum_w           SimpleAggregateFunction(sum, Float64),
    max_w           SimpleAggregateFunction(max, Float64),
    min_headroom_w  SimpleAggregateFunction(min, Nullable(Float64)),
    cap_w           AggregateFunction(argMax, Nullable(Float64), DateTime64(3, 'UTC')),
    above_warn      SimpleAggregateFunction(sum, UInt64),
    above_cap       SimpleAggregateFunction(sum, UInt64),
    min_coverage    SimpleAggregateFunction(min, Float32),
    max_estimated_w SimpleAggregateFunction(max, Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (site, domain, minute)
TTL toDateTime(minute) + toIntervalDay(730)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Power domain power per minute (retention: MEGAWATCH_ROLLUP_RETENTION_DAYS)';

CREATE MATERIALIZED VIEW IF NOT EXISTS domain_power_1m_mv TO domain_power_1m AS
SELECT
    site,
    domain,
    toDateTime64(toStartOfMinute(ts), 3, 'UTC') AS minute,
    count() AS samples,
    sum(total_w) AS sum_w,
    max(total_w) AS max_w,
    min(headroom_w) AS min_headroom_w,
    argMaxState(domain_power.cap_w, ts) AS cap_w,
    countIf(total_w >= warn_w) AS above_warn,
    countIf(total_w >= domain_power.cap_w) AS above_cap,
    min(domain_power.coverage) AS min_coverage,
    max(domain_power.estimated_w) AS max_estimated_w
FROM domain_power
GROUP BY site, domain, minute;
