-- Raw and derived tables written by the sink and the worker.
--
-- Portable DDL: runs on the embedded chDB engine and on a ClickHouse server >= 24.3.
-- Every time column is DateTime64(3, 'UTC'); optional strings are LowCardinality(String)
-- DEFAULT '' and optional numbers Nullable. The TTL days below are defaults only:
-- `megawatch db migrate` reconciles them with MEGAWATCH_RETENTION_DAYS, guided by the
-- "retention:" note in each table's COMMENT. non_replicated_deduplication_window makes
-- an insert retried with the same insert_deduplication_token a no-op (the sink's
-- at-least-once writes rely on it). Statements end with ';' at the end of a line.

CREATE TABLE IF NOT EXISTS rack_power
(
    site            LowCardinality(String),
    rack            LowCardinality(String),
    ts              DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    power_w         Float64 CODEC(Gorilla, ZSTD(1)),
    pdu             LowCardinality(String) DEFAULT '',
    source          LowCardinality(String) DEFAULT '',
    kafka_partition UInt16,
    kafka_offset    UInt64 CODEC(Delta, ZSTD(1)),
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(DoubleDelta, ZSTD(1))
)
ENGINE = MergeTree
PARTITION BY toDate(ts)
ORDER BY (site, rack, ts)
TTL toDateTime(ts) + toIntervalDay(90)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Rack power readings from telemetry.rack_power (retention: MEGAWATCH_RETENTION_DAYS)';

CREATE TABLE IF NOT EXISTS gpu_samples
(
    site            LowCardinality(String),
    rack            LowCardinality(String),
    host            LowCardinality(String),
    gpu             LowCardinality(String),
    ts              DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    util_pct        Float32 CODEC(Gorilla, ZSTD(1)),
    power_w         Float32 CODEC(Gorilla, ZSTD(1)),
    vendor          LowCardinality(String) DEFAULT '',
    model           LowCardinality(String) DEFAULT '',
    mem_used_pct    Nullable(Float32) CODEC(Gorilla, ZSTD(1)),
    temp_c          Nullable(Float32) CODEC(Gorilla, ZSTD(1)),
    power_limit_w   Nullable(Float32) CODEC(Gorilla, ZSTD(1)),
    kafka_partition UInt16,
    kafka_offset    UInt64 CODEC(Delta, ZSTD(1)),
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(DoubleDelta, ZSTD(1))
)
ENGINE = MergeTree
PARTITION BY toDate(ts)
ORDER BY (site, rack, host, gpu, ts)
TTL toDateTime(ts) + toIntervalDay(90)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'GPU samples from telemetry.gpu (retention: MEGAWATCH_RETENTION_DAYS)';

-- Link counters as reported, plus what the worker derived from them: deltas since the
-- previous sample of the link (0 when baseline = 1), reset and the windowed loss ratio
-- the live rule saw at this sample.
CREATE TABLE IF NOT EXISTS link_samples
(
    site            LowCardinality(String),
    link            LowCardinality(String),
    link_class      LowCardinality(String),
    peer_site       LowCardinality(String) DEFAULT '',
    ts              DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    tx_packets      UInt64 CODEC(Delta, ZSTD(1)),
    rx_packets      UInt64 CODEC(Delta, ZSTD(1)),
    dropped_packets UInt64 CODEC(Delta, ZSTD(1)),
    error_packets   Nullable(UInt64) CODEC(Delta, ZSTD(1)),
    d_tx            UInt64 CODEC(ZSTD(1)),
    d_rx            UInt64 CODEC(ZSTD(1)),
    d_dropped       UInt64 CODEC(ZSTD(1)),
    baseline        UInt8,
    reset           UInt8,
    loss_ratio      Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
    kafka_partition UInt16,
    kafka_offset    UInt64 CODEC(Delta, ZSTD(1)),
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(DoubleDelta, ZSTD(1))
)
ENGINE = MergeTree
PARTITION BY toDate(ts)
ORDER BY (site, link, ts)
TTL toDateTime(ts) + toIntervalDay(90)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Link counters from telemetry.link with deltas and loss ratio (retention: MEGAWATCH_RETENTION_DAYS)';

-- The per-site power series the worker writes at least once a second.
CREATE TABLE IF NOT EXISTS site_power
(
    site        LowCardinality(String),
    ts          DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    total_w     Float64 CODEC(Gorilla, ZSTD(1)),
    cap_w       Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
    warn_w      Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
    headroom_w  Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
    racks       UInt32 CODEC(ZSTD(1)),
    stale_racks UInt32 CODEC(ZSTD(1)),
    warming     UInt8,
    region      LowCardinality(String) DEFAULT ''
)
ENGINE = MergeTree
PARTITION BY toDate(ts)
ORDER BY (site, ts)
TTL toDateTime(ts) + toIntervalDay(90)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Per-site power totals, caps and headroom (retention: MEGAWATCH_RETENTION_DAYS)';

-- One row per alert state change. The version column is the Kafka offset: alerts are
-- keyed by fingerprint, so one fingerprint lives in one partition and a later offset is
-- a later state, whatever order redelivered messages arrive in. Read with FINAL.
CREATE TABLE IF NOT EXISTS alerts
(
    fingerprint     String,
    seq             UInt32,
    rule            LowCardinality(String),
    severity        LowCardinality(String),
    status          LowCardinality(String),
    site            LowCardinality(String),
    link            LowCardinality(String) DEFAULT '',
    peer_site       LowCardinality(String) DEFAULT '',
    rack            LowCardinality(String) DEFAULT '',
    value           Float64,
    threshold       Float64,
    starts_at       DateTime64(3, 'UTC'),
    ends_at         Nullable(DateTime64(3, 'UTC')),
    forecast_at     Nullable(DateTime64(3, 'UTC')),
    summary         String,
    test            UInt8,
    kafka_partition UInt16,
    kafka_offset    UInt64,
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(kafka_offset)
PARTITION BY toDate(starts_at)
ORDER BY (site, rule, fingerprint, seq)
TTL toDateTime(starts_at) + toIntervalDay(90)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Alert states from the alerts topic; read with FINAL (retention: MEGAWATCH_RETENTION_DAYS)';

CREATE TABLE IF NOT EXISTS alert_deliveries
(
    at            DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    fingerprint   String,
    seq           UInt32,
    status        LowCardinality(String),
    rule          LowCardinality(String),
    site          LowCardinality(String),
    receiver      LowCardinality(String),
    receiver_kind LowCardinality(String),
    attempt       UInt16,
    outcome       LowCardinality(String),
    http_status   UInt16,
    latency_ms    Float32,
    error         String
)
ENGINE = MergeTree
PARTITION BY toDate(at)
ORDER BY (receiver, at)
TTL toDateTime(at) + toIntervalDay(90)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Every alert delivery attempt and its outcome (retention: MEGAWATCH_RETENTION_DAYS)';

-- `partition`, `offset` and `index` are quoted because they are keywords in DDL.
CREATE TABLE IF NOT EXISTS dead_letters
(
    received_at  DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    topic        LowCardinality(String),
    `partition`  UInt16,
    `offset`     UInt64 CODEC(Delta, ZSTD(1)),
    `index`      Int32,
    reason_code  LowCardinality(String),
    reason       String,
    key          String,
    raw          String CODEC(ZSTD(3)),
    raw_encoding LowCardinality(String)
)
ENGINE = MergeTree
PARTITION BY toDate(received_at)
ORDER BY (topic, received_at)
TTL toDateTime(received_at) + toIntervalDay(90)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Messages and events that failed validation, with the original bytes (retention: MEGAWATCH_RETENTION_DAYS)';

-- The sink's replay ledger: the highest offset written per table and partition. Read
-- with max(max_offset) ... GROUP BY; no TTL, the ledger must outlive the data.
CREATE TABLE IF NOT EXISTS ingest_offsets
(
    at         DateTime64(3, 'UTC'),
    cluster_id LowCardinality(String),
    tbl        LowCardinality(String),
    topic      LowCardinality(String),
    `partition` UInt16,
    max_offset UInt64
)
ENGINE = ReplacingMergeTree(max_offset)
ORDER BY (cluster_id, tbl, topic, `partition`)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Highest Kafka offset written per table and partition; read with max(max_offset)';
