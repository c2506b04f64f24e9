-- The replay ledger, written by the data inserts themselves.
--
-- The sink used to insert a batch's rows, then a row into ingest_offsets: a worker
-- killed between the two inserts stored that batch again after its restart. Here each
-- row carries the id of the Kafka cluster it was read from, and a materialized view adds
-- the batch's highest offset per partition to ingest_offsets within the same INSERT, so
-- rows and ledger cannot part ways (short of a crash inside one INSERT statement).
-- kafka_cluster is '' for rows written without a Kafka source; the views skip them.

ALTER TABLE rack_power ADD COLUMN IF NOT EXISTS kafka_cluster LowCardinality(String) DEFAULT '' AFTER kafka_offset;
ALTER TABLE gpu_samples ADD COLUMN IF NOT EXISTS kafka_cluster LowCardinality(String) DEFAULT '' AFTER kafka_offset;
ALTER TABLE link_samples ADD COLUMN IF NOT EXISTS kafka_cluster LowCardinality(String) DEFAULT '' AFTER kafka_offset;
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS kafka_cluster LowCardinality(String) DEFAULT '' AFTER kafka_offset;
-- dead_letters' partition/offset name the offending message; these name the record on
-- telemetry.deadletter, for the ledger.
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS kafka_partition UInt16 DEFAULT 0;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS kafka_offset UInt64 DEFAULT 0;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS kafka_cluster LowCardinality(String) DEFAULT '';

CREATE MATERIALIZED VIEW IF NOT EXISTS rack_power_ledger_mv TO ingest_offsets AS
SELECT now64(3, 'UTC') AS at, kafka_cluster AS cluster_id, 'rack_power' AS tbl,
       'telemetry.rack_power' AS topic, kafka_partition AS `partition`,
       max(kafka_offset) AS max_offset
FROM rack_power WHERE kafka_cluster != '' GROUP BY kafka_cluster, kafka_partition;

CREATE MATERIALIZED VIEW IF NOT EXISTS gpu_samples_ledger_mv TO ingest_offsets AS
SELECT now64(3, 'UTC') AS at, kafka_cluster AS cluster_id, 'gpu_samples' AS tbl,
       'telemetry.gpu' AS topic, kafka_partition AS `partition`,
       max(kafka_offset) AS max_offset
FROM gpu_samples WHERE kafka_cluster != '' GROUP BY kafka_cluster, kafka_partition;

CREATE MATERIALIZED VIEW IF NOT EXISTS link_samples_ledger_mv TO ingest_offsets AS
SELECT now64(3, 'UTC') AS at, kafka_cluster AS cluster_id, 'link_samples' AS tbl,
       'telemetry.link' AS topic, kafka_partition AS `partition`,
       max(kafka_offset) AS max_offset
FROM link_samples WHERE kafka_cluster != '' GROUP BY kafka_cluster, kafka_partition;

CREATE MATERIALIZED VIEW IF NOT EXISTS alerts_ledger_mv TO ingest_offsets AS
SELECT now64(3, 'UTC') AS at, kafka_cluster AS cluster_id, 'alerts' AS tbl,
       'alerts' AS topic, kafka_partition AS `partition`,
       max(kafka_offset) AS max_offset
FROM alerts WHERE kafka_cluster != '' GROUP BY kafka_cluster, kafka_partition;

CREATE MATERIALIZED VIEW IF NOT EXISTS dead_letters_ledger_mv TO ingest_offsets AS
SELECT now64(3, 'UTC') AS at, kafka_cluster AS cluster_id, 'dead_letters' AS tbl,
       'telemetry.deadletter' AS topic, kafka_partition AS `partition`,
       max(kafka_offset) AS max_offset
FROM dead_letters WHERE kafka_cluster != '' GROUP BY kafka_cluster, kafka_partition;
