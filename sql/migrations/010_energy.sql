-- Energy (issue 23): jobs and tenants on GPU samples, energy integrated at ingest, hourly
-- rollups per job, tenant, rack and site, facility meters and work counters.
--
-- The worker integrates power over event time per GPU, rack and facility meter
-- (pipeline/core/energy/integrate.py) and writes, with each reading, the interval it
-- closes: interval_s and energy_j (known: readings at most stale_after_s apart, the
-- trapezoid of their power), gap_s and unknown_j (a longer gap: unknown energy, sized at
-- the last known power; never added to energy_j). held_reasons are the clock-event
-- reasons that held over the interval (NVML's bitmask). The hourly rollups sum them, so
-- a job's energy is a sum over hourly rows, never an integration over raw samples. An
-- interval belongs to the hour and the job of the reading that closes it.

ALTER TABLE gpu_samples ADD COLUMN IF NOT EXISTS job LowCardinality(String) DEFAULT '' AFTER power_limit_w;
ALTER TABLE gpu_samples ADD COLUMN IF NOT EXISTS tenant LowCardinality(String) DEFAULT '' AFTER job;
ALTER TABLE gpu_samples ADD COLUMN IF NOT EXISTS priority LowCardinality(String) DEFAULT '' AFTER tenant;
ALTER TABLE gpu_samples ADD COLUMN IF NOT EXISTS clock_reasons Nullable(UInt64) AFTER priority;
ALTER TABLE gpu_samples ADD COLUMN IF NOT EXISTS interval_s Float64 DEFAULT 0 CODEC(Gorilla, ZSTD(1)) AFTER via;
ALTER TABLE gpu_samples ADD COLUMN IF NOT EXISTS energy_j Float64 DEFAULT 0 CODEC(Gorilla, ZSTD(1)) AFTER interval_s;
ALTER TABLE gpu_samples ADD COLUMN IF NOT EXISTS gap_s Float64 DEFAULT 0 CODEC(Gorilla, ZSTD(1)) AFTER energy_j;
ALTER TABLE gpu_samples ADD COLUMN IF NOT EXISTS unknown_j Float64 DEFAULT 0 CODEC(Gorilla, ZSTD(1)) AFTER gap_s;
ALTER TABLE gpu_samples ADD COLUMN IF NOT EXISTS held_reasons UInt32 DEFAULT 0 CODEC(ZSTD(1)) AFTER unknown_j;

ALTER TABLE rack_power ADD COLUMN IF NOT EXISTS domains LowCardinality(String) DEFAULT '' AFTER via;
ALTER TABLE rack_power ADD COLUMN IF NOT EXISTS interval_s Float64 DEFAULT 0 CODEC(Gorilla, ZSTD(1)) AFTER domains;
ALTER TABLE rack_power ADD COLUMN IF NOT EXISTS energy_j Float64 DEFAULT 0 CODEC(Gorilla, ZSTD(1)) AFTER interval_s;
ALTER TABLE rack_power ADD COLUMN IF NOT EXISTS gap_s Float64 DEFAULT 0 CODEC(Gorilla, ZSTD(1)) AFTER energy_j;
ALTER TABLE rack_power ADD COLUMN IF NOT EXISTS unknown_j Float64 DEFAULT 0 CODEC(Gorilla, ZSTD(1)) AFTER gap_s;

-- One row per (site, hour, job, tenant, priority, rack, host, vendor, model): a 1 GW
-- campus (~70k hosts) writes ~2 M rows a day whatever its sample rate. capped_s counts
-- GPU-seconds held down for power (software power cap 0x4, hardware slowdown 0x8, power
-- brake 0x80: 140 = 0x8C); power_cap_s, slowdown_s and brake_s each reason. Read with
-- sum() and uniqMerge(gpus), grouping by the key.
CREATE TABLE IF NOT EXISTS gpu_energy_1h
(
    site        LowCardinality(String),
    hour        DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    job         LowCardinality(String),
    tenant      LowCardinality(String),
    priority    LowCardinality(String),
    rack        LowCardinality(String),
    host        LowCardinality(String),
    vendor      LowCardinality(String),
    model       LowCardinality(String),
    samples     SimpleAggregateFunction(sum, UInt64),
    gpu_s       SimpleAggregateFunction(sum, Float64),
    energy_j    SimpleAggregateFunction(sum, Float64),
    gap_s       SimpleAggregateFunction(sum, Float64),
    unknown_j   SimpleAggregateFunction(sum, Float64),
    capped_s    SimpleAggregateFunction(sum, Float64),
    power_cap_s SimpleAggregateFunction(sum, Float64),
    slowdown_s  SimpleAggregateFunction(sum, Float64),
    brake_s     SimpleAggregateFunction(sum, Float64),
    gpus        AggregateFunction(uniq, String, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (site, hour, job, tenant, priority, rack, host, vendor, model)
TTL toDateTime(hour) + toIntervalDay(730)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'GPU energy, GPU-hours and capped time per hour, job and host (retention: MEGAWATCH_ROLLUP_RETENTION_DAYS)';

CREATE MATERIALIZED VIEW IF NOT EXISTS gpu_energy_1h_mv TO gpu_energy_1h AS
SELECT
    site,
    toDateTime64(toStartOfHour(ts), 3, 'UTC') AS hour,
    job,
    tenant,
    priority,
    rack,
    host,
    vendor,
    model,
    count() AS samples,
    sum(gpu_samples.interval_s) AS gpu_s,
    sum(gpu_samples.energy_j) AS energy_j,
    sum(gpu_samples.gap_s) AS gap_s,
    sum(gpu_samples.unknown_j) AS unknown_j,
    sumIf(gpu_samples.interval_s, bitAnd(held_reasons, 140) != 0) AS capped_s,
    sumIf(gpu_samples.interval_s, bitAnd(held_reasons, 4) != 0) AS power_cap_s,
    sumIf(gpu_samples.interval_s, bitAnd(held_reasons, 8) != 0) AS slowdown_s,
    sumIf(gpu_samples.interval_s, bitAnd(held_reasons, 128) != 0) AS brake_s,
    uniqState(CAST(host AS String), CAST(gpu AS String)) AS gpus
FROM gpu_samples
GROUP BY site, hour, job, tenant, priority, rack, host, vendor, model;

-- Rack PDU energy per hour; domains is the rack's leaf domain path from the top
-- (feed-a/hall-1/row-3), '' for a rack no leaf claims.
CREATE TABLE IF NOT EXISTS rack_energy_1h
(
    site      LowCardinality(String),
    hour      DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    rack      LowCardinality(String),
    domains   LowCardinality(String),
    samples   SimpleAggregateFunction(sum, UInt64),
    seconds   SimpleAggregateFunction(sum, Float64),
    energy_j  SimpleAggregateFunction(sum, Float64),
    gap_s     SimpleAggregateFunction(sum, Float64),
    unknown_j SimpleAggregateFunction(sum, Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (site, hour, rack, domains)
TTL toDateTime(hour) + toIntervalDay(730)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Rack PDU energy per hour (retention: MEGAWATCH_ROLLUP_RETENTION_DAYS)';

CREATE MATERIALIZED VIEW IF NOT EXISTS rack_energy_1h_mv TO rack_energy_1h AS
SELECT
    site,
    toDateTime64(toStartOfHour(ts), 3, 'UTC') AS hour,
    rack,
    domains,
    count() AS samples,
    sum(rack_power.interval_s) AS seconds,
    sum(rack_power.energy_j) AS energy_j,
    sum(rack_power.gap_s) AS gap_s,
    sum(rack_power.unknown_j) AS unknown_j
FROM rack_power
GROUP BY site, hour, rack, domains;

-- Facility meters (telemetry.facility): utility intake, cooling, UPS and distribution
-- losses, other; integrated like the racks.
CREATE TABLE IF NOT EXISTS facility_power
(
    site            LowCardinality(String),
    meter           LowCardinality(String),
    meter_kind      LowCardinality(String),
    ts              DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    power_w         Float64 CODEC(Gorilla, ZSTD(1)),
    interval_s      Float64 CODEC(Gorilla, ZSTD(1)),
    energy_j        Float64 CODEC(Gorilla, ZSTD(1)),
    gap_s           Float64 CODEC(Gorilla, ZSTD(1)),
    unknown_j       Float64 CODEC(Gorilla, ZSTD(1)),
    kafka_partition UInt16,
    kafka_offset    UInt64 CODEC(Delta, ZSTD(1)),
    kafka_cluster   LowCardinality(String) DEFAULT '',
    via             LowCardinality(String) DEFAULT '',
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(DoubleDelta, ZSTD(1))
)
ENGINE = MergeTree
PARTITION BY toDate(ts)
ORDER BY (site, meter, ts)
TTL toDateTime(ts) + toIntervalDay(90)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Facility meter readings from telemetry.facility with their energy intervals (retention: MEGAWATCH_RETENTION_DAYS)';

CREATE MATERIALIZED VIEW IF NOT EXISTS facility_power_ledger_mv TO ingest_offsets AS
SELECT now64(3, 'UTC') AS at, kafka_cluster AS cluster_id, 'facility_power' AS tbl,
       'telemetry.facility' AS topic, kafka_partition AS `partition`,
       max(kafka_offset) AS max_offset
FROM facility_power WHERE kafka_cluster != '' GROUP BY kafka_cluster, kafka_partition;

CREATE TABLE IF NOT EXISTS facility_energy_1h
(
    site       LowCardinality(String),
    hour       DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    meter      LowCardinality(String),
    meter_kind LowCardinality(String),
    samples    SimpleAggregateFunction(sum, UInt64),
    seconds    SimpleAggregateFunction(sum, Float64),
    energy_j   SimpleAggregateFunction(sum, Float64),
    gap_s      SimpleAggregateFunction(sum, Float64),
    unknown_j  SimpleAggregateFunction(sum, Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (site, hour, meter_kind, meter)
TTL toDateTime(hour) + toIntervalDay(730)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Facility meter energy per hour (retention: MEGAWATCH_ROLLUP_RETENTION_DAYS)';

CREATE MATERIALIZED VIEW IF NOT EXISTS facility_energy_1h_mv TO facility_energy_1h AS
SELECT
    site,
    toDateTime64(toStartOfHour(ts), 3, 'UTC') AS hour,
    meter,
    meter_kind,
    count() AS samples,
    sum(facility_power.interval_s) AS seconds,
    sum(facility_power.energy_j) AS energy_j,
    sum(facility_power.gap_s) AS gap_s,
    sum(facility_power.unknown_j) AS unknown_j
FROM facility_power
GROUP BY site, hour, meter, meter_kind;

-- Work counters (telemetry.work): tokens, samples, requests, as cumulative totals and the
-- delta since the counter's last reading (0 on a baseline; the new total after a
-- restart, flagged reset).
CREATE TABLE IF NOT EXISTS work_samples
(
    site            LowCardinality(String),
    host            LowCardinality(String) DEFAULT '',
    job             LowCardinality(String) DEFAULT '',
    counter         LowCardinality(String),
    served_model    LowCardinality(String) DEFAULT '',
    source          LowCardinality(String) DEFAULT '',
    ts              DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    total           Float64 CODEC(Gorilla, ZSTD(1)),
    delta           Float64 CODEC(Gorilla, ZSTD(1)),
    baseline        UInt8,
    reset           UInt8,
    kafka_partition UInt16,
    kafka_offset    UInt64 CODEC(Delta, ZSTD(1)),
    kafka_cluster   LowCardinality(String) DEFAULT '',
    via             LowCardinality(String) DEFAULT '',
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(DoubleDelta, ZSTD(1))
)
ENGINE = MergeTree
PARTITION BY toDate(ts)
ORDER BY (site, host, job, counter, ts)
TTL toDateTime(ts) + toIntervalDay(90)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Work counters from telemetry.work with their deltas (retention: MEGAWATCH_RETENTION_DAYS)';

CREATE MATERIALIZED VIEW IF NOT EXISTS work_samples_ledger_mv TO ingest_offsets AS
SELECT now64(3, 'UTC') AS at, kafka_cluster AS cluster_id, 'work_samples' AS tbl,
       'telemetry.work' AS topic, kafka_partition AS `partition`,
       max(kafka_offset) AS max_offset
FROM work_samples WHERE kafka_cluster != '' GROUP BY kafka_cluster, kafka_partition;

CREATE TABLE IF NOT EXISTS work_1h
(
    site         LowCardinality(String),
    hour         DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    host         LowCardinality(String),
    job          LowCardinality(String),
    counter      LowCardinality(String),
    served_model LowCardinality(String),
    samples      SimpleAggregateFunction(sum, UInt64),
    work         SimpleAggregateFunction(sum, Float64),
    resets       SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (site, hour, counter, served_model, host, job)
TTL toDateTime(hour) + toIntervalDay(730)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Work done per hour, host or job, counter and served model (retention: MEGAWATCH_ROLLUP_RETENTION_DAYS)';

CREATE MATERIALIZED VIEW IF NOT EXISTS work_1h_mv TO work_1h AS
SELECT
    site,
    toDateTime64(toStartOfHour(ts), 3, 'UTC') AS hour,
    host,
    job,
    counter,
    served_model,
    count() AS samples,
    sum(delta) AS work,
    sum(reset) AS resets
FROM work_samples
GROUP BY site, hour, host, job, counter, served_model;
