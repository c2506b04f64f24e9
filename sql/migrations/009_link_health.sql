-- Link health beyond loss (issue 21): the optional link-health fields of telemetry.link
-- as reported, and what the worker derived from them (docs/link-health.md).
--
-- As reported (NULL, an empty map or an empty array where a sample carries none):
-- FEC codewords, post-FEC errors and the bits they are counted over, the device's own
-- effective BER, carrier transitions and the PHY's link-down events, the carrier state,
-- buffer discards, pause storm events, PFC pause frames and pause time (us) per
-- priority (0-7), optical power per lane and the module's rx power thresholds (dBm).
--
-- Derived, per sample (0 and empty at a baseline: a counter's first value, its first
-- after an absence, and a reset; each counter resets on its own, as d_tx does):
-- deltas of the FEC, error, bit and transition counters and of pause time per priority;
-- `ber` and `pause_share` are the windowed post-FEC BER and the most paused priority's
-- share of time that the rules saw at this sample, as `loss_ratio` is for loss.
-- The columns follow `loss_ratio`, in the order the worker writes them (pipeline/core/rows.py).

ALTER TABLE link_samples
    ADD COLUMN IF NOT EXISTS fec_corrected_codewords Nullable(UInt64) CODEC(Delta, ZSTD(1)) AFTER loss_ratio,
    ADD COLUMN IF NOT EXISTS fec_uncorrectable_codewords Nullable(UInt64) CODEC(Delta, ZSTD(1)) AFTER fec_corrected_codewords,
    ADD COLUMN IF NOT EXISTS symbol_errors Nullable(UInt64) CODEC(Delta, ZSTD(1)) AFTER fec_uncorrectable_codewords,
    ADD COLUMN IF NOT EXISTS rx_bits Nullable(UInt64) CODEC(Delta, ZSTD(1)) AFTER symbol_errors,
    ADD COLUMN IF NOT EXISTS effective_ber Nullable(Float64) CODEC(Gorilla, ZSTD(1)) AFTER rx_bits,
    ADD COLUMN IF NOT EXISTS carrier_transitions Nullable(UInt64) CODEC(Delta, ZSTD(1)) AFTER effective_ber,
    ADD COLUMN IF NOT EXISTS link_down_events Nullable(UInt64) CODEC(Delta, ZSTD(1)) AFTER carrier_transitions,
    ADD COLUMN IF NOT EXISTS carrier_up Nullable(UInt8) AFTER link_down_events,
    ADD COLUMN IF NOT EXISTS rx_discarded_packets Nullable(UInt64) CODEC(Delta, ZSTD(1)) AFTER carrier_up,
    ADD COLUMN IF NOT EXISTS pause_storm_warnings Nullable(UInt64) CODEC(Delta, ZSTD(1)) AFTER rx_discarded_packets,
    ADD COLUMN IF NOT EXISTS pause_storm_errors Nullable(UInt64) CODEC(Delta, ZSTD(1)) AFTER pause_storm_warnings,
    ADD COLUMN IF NOT EXISTS rx_pause_frames Map(UInt8, UInt64) CODEC(ZSTD(1)) AFTER pause_storm_errors,
    ADD COLUMN IF NOT EXISTS tx_pause_frames Map(UInt8, UInt64) CODEC(ZSTD(1)) AFTER rx_pause_frames,
    ADD COLUMN IF NOT EXISTS rx_pause_us Map(UInt8, UInt64) CODEC(ZSTD(1)) AFTER tx_pause_frames,
    ADD COLUMN IF NOT EXISTS tx_pause_us Map(UInt8, UInt64) CODEC(ZSTD(1)) AFTER rx_pause_us,
    ADD COLUMN IF NOT EXISTS rx_power_dbm Array(Float32) CODEC(ZSTD(1)) AFTER tx_pause_us,
    ADD COLUMN IF NOT EXISTS tx_power_dbm Array(Float32) CODEC(ZSTD(1)) AFTER rx_power_dbm,
    ADD COLUMN IF NOT EXISTS rx_power_low_warn_dbm Nullable(Float32) CODEC(ZSTD(1)) AFTER tx_power_dbm,
    ADD COLUMN IF NOT EXISTS rx_power_low_alarm_dbm Nullable(Float32) CODEC(ZSTD(1)) AFTER rx_power_low_warn_dbm,
    ADD COLUMN IF NOT EXISTS rx_power_high_warn_dbm Nullable(Float32) CODEC(ZSTD(1)) AFTER rx_power_low_alarm_dbm,
    ADD COLUMN IF NOT EXISTS rx_power_high_alarm_dbm Nullable(Float32) CODEC(ZSTD(1)) AFTER rx_power_high_warn_dbm,
    ADD COLUMN IF NOT EXISTS d_fec_corrected UInt64 DEFAULT 0 CODEC(ZSTD(1)) AFTER rx_power_high_alarm_dbm,
    ADD COLUMN IF NOT EXISTS d_fec_uncorrectable UInt64 DEFAULT 0 CODEC(ZSTD(1)) AFTER d_fec_corrected,
    ADD COLUMN IF NOT EXISTS d_symbol_errors UInt64 DEFAULT 0 CODEC(ZSTD(1)) AFTER d_fec_uncorrectable,
    ADD COLUMN IF NOT EXISTS d_rx_bits UInt64 DEFAULT 0 CODEC(ZSTD(1)) AFTER d_symbol_errors,
    ADD COLUMN IF NOT EXISTS d_transitions UInt64 DEFAULT 0 CODEC(ZSTD(1)) AFTER d_rx_bits,
    ADD COLUMN IF NOT EXISTS d_rx_pause_us Map(UInt8, UInt64) CODEC(ZSTD(1)) AFTER d_transitions,
    ADD COLUMN IF NOT EXISTS d_tx_pause_us Map(UInt8, UInt64) CODEC(ZSTD(1)) AFTER d_rx_pause_us,
    ADD COLUMN IF NOT EXISTS ber Nullable(Float64) CODEC(Gorilla, ZSTD(1)) AFTER d_tx_pause_us,
    ADD COLUMN IF NOT EXISTS pause_share Nullable(Float64) CODEC(Gorilla, ZSTD(1)) AFTER ber;
