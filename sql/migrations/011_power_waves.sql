-- Power that moves (issue 22): telemetry.power_wave received, the features read from
-- the sites' aligned waveforms, load drops and fleet incidents, demand response.
--
-- power_wave is the stream's ingest ledger: one row per event received (its samples and
-- how many came after their cells had closed), with its Kafka position, so that the
-- samples a worker took in are counted exactly across restarts (the ledger view below).
-- The samples themselves go to power_wave_samples only with MEGAWATCH_WAVE_STORE_SAMPLES,
-- kept MEGAWATCH_WAVE_SAMPLE_RETENTION_DAYS. wave_features, load_drops, fleet_incidents
-- and dr_tracking are written by the site stages and regions (pipeline/core/wave/rows.py);
-- a stage that reads the same stride again after a restart writes the same key, and
-- ReplacingMergeTree keeps the row with most cells: read them with FINAL.

CREATE TABLE IF NOT EXISTS power_wave
(
    site            LowCardinality(String),
    shard           LowCardinality(String) DEFAULT '',
    rack            LowCardinality(String),
    meter           LowCardinality(String) DEFAULT '',
    ts              DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    interval_ms     UInt16,
    samples         UInt16,
    late            UInt16,
    min_w           Float64 CODEC(Gorilla, ZSTD(1)),
    max_w           Float64 CODEC(Gorilla, ZSTD(1)),
    source          LowCardinality(String) DEFAULT '',
    kafka_partition UInt16,
    kafka_offset    UInt64 CODEC(Delta, ZSTD(1)),
    kafka_cluster   LowCardinality(String) DEFAULT '',
    via             LowCardinality(String) DEFAULT '',
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(DoubleDelta, ZSTD(1))
)
ENGINE = MergeTree
PARTITION BY toDate(ts)
ORDER BY (site, rack, meter, ts)
TTL toDateTime(ts) + toIntervalDay(90)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Power-wave events received from telemetry.power_wave: samples and late samples per event (retention: MEGAWATCH_RETENTION_DAYS)';

CREATE MATERIALIZED VIEW IF NOT EXISTS power_wave_ledger_mv TO ingest_offsets AS
SELECT now64(3, 'UTC') AS at, kafka_cluster AS cluster_id, 'power_wave' AS tbl,
       'telemetry.power_wave' AS topic, kafka_partition AS `partition`,
       max(kafka_offset) AS max_offset
FROM power_wave WHERE kafka_cluster != '' GROUP BY kafka_cluster, kafka_partition;

CREATE TABLE IF NOT EXISTS power_wave_samples
(
    site            LowCardinality(String),
    rack            LowCardinality(String),
    meter           LowCardinality(String) DEFAULT '',
    ts              DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    interval_ms     UInt16,
    power_w         Array(Float32) CODEC(ZSTD(1)),
    kafka_partition UInt16,
    kafka_offset    UInt64 CODEC(Delta, ZSTD(1)),
    kafka_cluster   LowCardinality(String) DEFAULT '',
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(DoubleDelta, ZSTD(1))
)
ENGINE = MergeTree
PARTITION BY toDate(ts)
ORDER BY (site, rack, meter, ts)
TTL toDateTime(ts) + toIntervalDay(7)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Raw power-wave samples, one row per event, sample i at ts + i * interval_ms; only with MEGAWATCH_WAVE_STORE_SAMPLES (retention: MEGAWATCH_WAVE_SAMPLE_RETENTION_DAYS)';

CREATE MATERIALIZED VIEW IF NOT EXISTS power_wave_samples_ledger_mv TO ingest_offsets AS
SELECT now64(3, 'UTC') AS at, kafka_cluster AS cluster_id, 'power_wave_samples' AS tbl,
       'telemetry.power_wave' AS topic, kafka_partition AS `partition`,
       max(kafka_offset) AS max_offset
FROM power_wave_samples WHERE kafka_cluster != '' GROUP BY kafka_cluster, kafka_partition;

-- One row per stride of event time (MEGAWATCH_WAVE_STRIDE_S) for the site (domain '')
-- and each of its power domains. cells / known_cells / avg_w / held_w: the stride's own
-- cells (avg_w the mean of the known ones, held_w the estimated part of the site's);
-- mean_w, swing_w, bands and the dominant frequency: the feature window ending at ts;
-- ramp_1s_w / ramp_10s_w: the largest change over 1 s / 10 s ending in the stride.
-- band_w[i] is the peak amplitude in [band_lo_hz[i], band_hi_hz[i]]. NULL: unknown.
CREATE TABLE IF NOT EXISTS wave_features
(
    site        LowCardinality(String),
    domain      LowCardinality(String) DEFAULT '',
    region      LowCardinality(String) DEFAULT '',
    ts          DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    stride_ms   UInt32,
    cells       UInt32,
    known_cells UInt32,
    avg_w       Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
    held_w      Float64 CODEC(Gorilla, ZSTD(1)),
    mean_w      Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
    swing_w     Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
    ramp_1s_w   Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
    ramp_10s_w  Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
    dominant_hz Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
    dominant_w  Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
    band_lo_hz  Array(Float32) CODEC(ZSTD(1)),
    band_hi_hz  Array(Float32) CODEC(ZSTD(1)),
    band_w      Array(Nullable(Float64)) CODEC(ZSTD(1)),
    written_at  DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(DoubleDelta, ZSTD(1))
)
ENGINE = ReplacingMergeTree(cells)
PARTITION BY toDate(ts)
ORDER BY (site, domain, ts)
TTL toDateTime(ts) + toIntervalDay(90)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Waveform features per stride, per site and power domain (retention: MEGAWATCH_RETENTION_DAYS)';

CREATE TABLE IF NOT EXISTS load_drops
(
    site       LowCardinality(String),
    region     LowCardinality(String) DEFAULT '',
    at         DateTime64(3, 'UTC'),
    peak_at    DateTime64(3, 'UTC'),
    before_w   Float64,
    after_w    Float64,
    lost_ratio Float64,
    written_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (site, at)
TTL toDateTime(at) + toIntervalDay(730)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Load drops of sites: the moment the loss reached drop_ratio, the load before and after (retention: MEGAWATCH_ROLLUP_RETENTION_DAYS)';

CREATE TABLE IF NOT EXISTS fleet_incidents
(
    region     LowCardinality(String),
    start_at   DateTime64(3, 'UTC'),
    sites      Array(String),
    drop_at    Array(DateTime64(3, 'UTC')),
    before_w   Array(Float64),
    after_w    Array(Float64),
    lost_w     Float64,
    timeline   Array(String),
    written_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(start_at)
ORDER BY (region, start_at)
TTL toDateTime(start_at) + toIntervalDay(730)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Load drops at several sites of one region within fleet_within_s: the evidence timeline (retention: MEGAWATCH_ROLLUP_RETENTION_DAYS)';

-- Demand response: each event as measured (its baseline stated), and its cells per
-- stride: counts and W x ms sums over the known cells, which add up to the verification
-- (named query dr_verification). graced_cells: known cells after dr_grace_s; on_cells:
-- of those, at or under target within dr_tolerance; reached_at: the stride's first cell
-- on target.
CREATE TABLE IF NOT EXISTS dr_events
(
    event_id        String,
    scope           LowCardinality(String),
    is_region       UInt8,
    start_at        DateTime64(3, 'UTC'),
    end_at          DateTime64(3, 'UTC'),
    ceiling_mw      Nullable(Float64),
    reduction_pct   Nullable(Float64),
    program         String DEFAULT '',
    cancelled       UInt8,
    baseline_method String,
    baseline_days   Array(Date),
    baseline_mw     Nullable(Float64),
    sites           Array(String),
    written_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(written_at)
PARTITION BY toYYYYMM(start_at)
ORDER BY event_id
TTL toDateTime(start_at) + toIntervalDay(730)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Demand-response events as measured, with their baseline method and days (retention: MEGAWATCH_ROLLUP_RETENTION_DAYS)';

CREATE TABLE IF NOT EXISTS dr_tracking
(
    event_id     String,
    scope        LowCardinality(String),
    ts           DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    start_at     DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    cells        UInt32,
    known_cells  UInt32,
    graced_cells UInt32,
    on_cells     UInt32,
    reached_at   Nullable(DateTime64(3, 'UTC')),
    actual_wms   Float64,
    baseline_wms Nullable(Float64),
    target_wms   Nullable(Float64),
    actual_w     Nullable(Float64),
    target_w     Nullable(Float64),
    written_at   DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(cells)
PARTITION BY toYYYYMM(ts)
ORDER BY (event_id, ts)
TTL toDateTime(ts) + toIntervalDay(730)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Demand-response measurement per stride: actual against target and baseline (retention: MEGAWATCH_ROLLUP_RETENTION_DAYS)';
