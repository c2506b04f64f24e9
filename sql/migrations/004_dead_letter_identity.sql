-- Dead letters are idempotent like rows (issue 10).
--
-- A worker killed after publishing a message's dead letters but before committing the
-- message publishes them again after its restart: each copy is a new record on
-- telemetry.deadletter, so the offset ledger cannot see the repeat (6,000 invalid events
-- became 6,414 rows). A dead letter's identity is the message and event it reports,
-- (kafka_cluster, topic, partition, offset, index): the worker stores a batch of dead
-- letters without those already stored (pipeline/worker/topic_rows.py). Copies of one
-- dead letter share its key, hence its partition and the worker that stores them.
-- raw_size and raw_sha256 describe bytes over the dead-letter bound (raw holds a prefix).

ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS raw_size UInt64 DEFAULT 0 AFTER raw_encoding;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS raw_sha256 String DEFAULT '' AFTER raw_size;

-- The offset ledger never skips silently: when a partition's log ends below the offset
-- the ledger says was stored (the topic was recreated, or the cluster is a new one under
-- the same id), the worker sets the ledger aside for it, and records that here.
CREATE TABLE IF NOT EXISTS ledger_resets
(
    at            DateTime64(3, 'UTC'),
    cluster_id    LowCardinality(String),
    tbl           LowCardinality(String),
    topic         LowCardinality(String),
    `partition`   UInt16,
    stored_offset UInt64,
    log_end       UInt64
)
ENGINE = MergeTree
ORDER BY (cluster_id, tbl, topic, `partition`, at)
COMMENT 'Partitions whose log ended below the stored ledger (topic recreated, new cluster): the ledger was set aside';
