-- Readings that came through `megawatch gateway` (issue 21).
--
-- A retried remote_write or OTLP request is published again as new messages, at new
-- offsets, where the offset ledger (003) cannot see the repeat. Rows of messages with
-- the header `megawatch-via: gateway` say so in `via`, and the worker stores such a
-- row only when no row of the same identity (site, entity, ts) is stored yet
-- (pipeline/worker/identity.py). Agents' rows keep `via` empty and are not checked.

ALTER TABLE rack_power ADD COLUMN IF NOT EXISTS via LowCardinality(String) DEFAULT '' AFTER kafka_cluster;
ALTER TABLE gpu_samples ADD COLUMN IF NOT EXISTS via LowCardinality(String) DEFAULT '' AFTER kafka_cluster;
ALTER TABLE link_samples ADD COLUMN IF NOT EXISTS via LowCardinality(String) DEFAULT '' AFTER kafka_cluster;
