"""Migrations and TTL reconciliation on the real chDB engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.errors import MigrationError
from pipeline.settings import Settings, load_settings
from pipeline.store import Store, open_store
from pipeline.store.migrations import HISTORY_TABLE, load_migrations

pytestmark = pytest.mark.integration

SPEC_TABLES = {
    "rack_power": "MergeTree",
    "gpu_samples": "MergeTree",
    "link_samples": "MergeTree",
    "site_power": "MergeTree",
    "alerts": "ReplacingMergeTree",
    "alert_deliveries": "MergeTree",
    "dead_letters": "MergeTree",
    "ingest_offsets": "ReplacingMergeTree",
    "rack_power_1m": "AggregatingMergeTree",
    "site_power_1m": "AggregatingMergeTree",
    "gpu_1m": "AggregatingMergeTree",
    "link_1m": "AggregatingMergeTree",
    "rack_power_1m_mv": "MaterializedView",
    "site_power_1m_mv": "MaterializedView",
    "gpu_1m_mv": "MaterializedView",
    "link_1m_mv": "MaterializedView",
    "rack_power_ledger_mv": "MaterializedView",
    "gpu_samples_ledger_mv": "MaterializedView",
    "link_samples_ledger_mv": "MaterializedView",
    "alerts_ledger_mv": "MaterializedView",
    "dead_letters_ledger_mv": "MaterializedView",
    # 005: coverage and power domains
    "site_power_1m_coverage_mv": "MaterializedView",
    "domain_power": "MergeTree",
    "domain_power_1m": "AggregatingMergeTree",
    "domain_power_1m_mv": "MaterializedView",
    # 004: dead letter identity, offset-ledger resets
    "ledger_resets": "MergeTree",
    # 006: every rollup readable with a plain SELECT
    "site_power_per_minute": "View",
    "domain_power_per_minute": "View",
    "rack_power_per_minute": "View",
    "gpu_per_minute": "View",
    "link_per_minute": "View",
    # 010: energy
    "gpu_energy_1h": "AggregatingMergeTree",
    "gpu_energy_1h_mv": "MaterializedView",
    "rack_energy_1h": "AggregatingMergeTree",
    "rack_energy_1h_mv": "MaterializedView",
    "facility_power": "MergeTree",
    "facility_power_ledger_mv": "MaterializedView",
    "facility_energy_1h": "AggregatingMergeTree",
    "facility_energy_1h_mv": "MaterializedView",
    "work_samples": "MergeTree",
    "work_samples_ledger_mv": "MaterializedView",
    "work_1h": "AggregatingMergeTree",
    "work_1h_mv": "MaterializedView",
    # 011: power waves
    "power_wave": "MergeTree",
    "power_wave_ledger_mv": "MaterializedView",
    "power_wave_samples": "MergeTree",
    "power_wave_samples_ledger_mv": "MaterializedView",
    "wave_features": "ReplacingMergeTree",
    "load_drops": "ReplacingMergeTree",
    "fleet_incidents": "ReplacingMergeTree",
    "dr_events": "ReplacingMergeTree",
    "dr_tracking": "ReplacingMergeTree",
    HISTORY_TABLE: "MergeTree",
}


def _tables(store: Store) -> dict[str, str]:
    rows = store.query_rows(
        "SELECT name, engine FROM system.tables WHERE database = currentDatabase()"
    )
    return dict(rows)


def test_migrate_creates_the_spec_tables_and_twice_is_a_no_op(empty_store: Store) -> None:
    applied = empty_store.migrate()
    assert [m.filename for m in applied] == [m.filename for m in load_migrations()]
    assert _tables(empty_store) == SPEC_TABLES
    history = empty_store.query_rows(f"SELECT version, name FROM {HISTORY_TABLE} ORDER BY version")

    assert empty_store.migrate() == []
    assert (
        empty_store.query_rows(f"SELECT version, name FROM {HISTORY_TABLE} ORDER BY version")
        == history
        == [
            (1, "raw_tables"),
            (2, "minute_rollups"),
            (3, "ledger_views"),
            (4, "dead_letter_identity"),
            (5, "coverage_and_domains"),
            (6, "readable_rollups"),
            (7, "alert_domain"),
            (8, "gateway_rows"),
            (9, "link_health"),
            (10, "energy"),
            (11, "power_waves"),
        ]
    )
    status = empty_store.migration_status()
    assert [r.version for r in status.applied] == list(range(1, 12))
    assert status.pending == []
    assert all(r.applied_at.tzinfo is not None for r in status.applied)


def test_status_before_migrate_lists_everything_pending(empty_store: Store) -> None:
    status = empty_store.migration_status()
    assert status.applied == [] and len(status.pending) == len(load_migrations())
    assert _tables(empty_store) == {}  # status reads, it creates nothing


def test_new_file_is_applied_and_a_changed_one_is_refused(
    empty_store: Store, tmp_path: Path
) -> None:
    (tmp_path / "001_one.sql").write_text(
        "CREATE TABLE IF NOT EXISTS one (a UInt8) ENGINE = MergeTree ORDER BY a;\n"
        "CREATE TABLE IF NOT EXISTS two (b UInt8) ENGINE = MergeTree ORDER BY b;\n"
    )
    assert [m.version for m in empty_store.migrate(load_migrations(tmp_path))] == [1]
    (tmp_path / "002_more.sql").write_text("ALTER TABLE one ADD COLUMN c String DEFAULT 'x';\n")
    assert [m.version for m in empty_store.migrate(load_migrations(tmp_path))] == [2]
    assert empty_store.query_rows(
        "SELECT name FROM system.columns WHERE database = "
        "currentDatabase() AND table = 'one' ORDER BY name"
    ) == [("a",), ("c",)]

    (tmp_path / "001_one.sql").write_text("CREATE TABLE one (a UInt16) ENGINE = Memory;\n")
    with pytest.raises(MigrationError, match=r"001_one\.sql was changed after it was applied"):
        empty_store.migrate(load_migrations(tmp_path))
    with pytest.raises(MigrationError, match=r"001_one\.sql"):
        empty_store.migration_status(load_migrations(tmp_path))


def test_failing_statement_is_named_and_the_file_can_be_fixed(
    empty_store: Store, tmp_path: Path
) -> None:
    bad = tmp_path / "001_bad.sql"
    bad.write_text(
        "CREATE TABLE IF NOT EXISTS ok (a UInt8) ENGINE = MergeTree ORDER BY a;\n"
        "CREATE TABLE IF NOT EXISTS broken (a Nope) ENGINE = Memory;\n"
    )
    with pytest.raises(MigrationError) as caught:
        empty_store.migrate(load_migrations(tmp_path))
    assert "001_bad.sql failed at statement 2 of 2" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert empty_store.migration_status(load_migrations(tmp_path)).applied == []

    bad.write_text(bad.read_text().replace("Nope", "UInt8"))
    assert [m.version for m in empty_store.migrate(load_migrations(tmp_path))] == [1]
    assert {"ok", "broken"} <= set(_tables(empty_store))


def _ttl_days(store: Store) -> dict[str, int]:
    rows = store.query_rows(
        "SELECT name, toUInt32(extract(engine_full, 'toIntervalDay\\\\((\\\\d+)\\\\)')) "
        "FROM system.tables WHERE database = currentDatabase() AND engine_full LIKE '%TTL%'"
    )
    return dict(rows)


def _with_retention(settings: Settings, raw: int, rollup: int) -> Settings:
    return load_settings(
        clickhouse_dsn=settings.clickhouse_dsn,
        data_dir=settings.data_dir,
        retention_days=raw,
        rollup_retention_days=rollup,
    )


RAW_TABLES = {
    "rack_power",
    "gpu_samples",
    "link_samples",
    "site_power",
    "domain_power",
    "alerts",
    "alert_deliveries",
    "dead_letters",
    "facility_power",
    "work_samples",
    "power_wave",
    "wave_features",
}
ROLLUPS = {
    "rack_power_1m",
    "site_power_1m",
    "gpu_1m",
    "link_1m",
    "domain_power_1m",
    "gpu_energy_1h",
    "rack_energy_1h",
    "facility_energy_1h",
    "work_1h",
    "load_drops",
    "fleet_incidents",
    "dr_events",
    "dr_tracking",
}
SAMPLES = {"power_wave_samples": 7}  # MEGAWATCH_WAVE_SAMPLE_RETENTION_DAYS, its own


def test_ttl_follows_the_retention_settings(store: Store, store_settings: Settings) -> None:
    defaults = _ttl_days(store)
    assert defaults == {**dict.fromkeys(RAW_TABLES, 90), **dict.fromkeys(ROLLUPS, 730), **SAMPLES}

    old = datetime.now(UTC) - timedelta(days=60)
    store.insert_columns(
        "rack_power",
        ["site", "rack", "ts", "power_w", "kafka_partition", "kafka_offset"],
        [["s"], ["r"], [old], [1.0], [0], [0]],
    )
    with open_store(_with_retention(store_settings, raw=30, rollup=400)) as shorter:
        changes = shorter.reconcile_ttl()
        assert {(c.table, c.old_days, c.new_days) for c in changes} == (
            {(t, 90, 30) for t in RAW_TABLES} | {(t, 730, 400) for t in ROLLUPS}
        )
        assert _ttl_days(shorter) == {
            **dict.fromkeys(RAW_TABLES, 30),
            **dict.fromkeys(ROLLUPS, 400),
            **SAMPLES,
        }
        assert shorter.reconcile_ttl() == []  # only when it differs
        # history is not rewritten by the ALTER: the 60-day-old row goes at a later merge
        assert shorter.query_rows("SELECT count() FROM rack_power")[0][0] == 1
        shorter.command("ALTER TABLE rack_power MATERIALIZE TTL", settings={"mutations_sync": 2})
        assert shorter.query_rows("SELECT count() FROM rack_power")[0][0] == 0

    assert store.migrate() == []  # nothing to apply, but TTLs go back to these settings
    assert _ttl_days(store) == defaults
    raw_samples = load_settings(
        clickhouse_dsn=store_settings.clickhouse_dsn,
        data_dir=store_settings.data_dir,
        wave_sample_retention_days=2,
    )
    with open_store(raw_samples) as own:  # the raw samples have their own retention
        changes = own.reconcile_ttl()
        assert [(c.table, c.old_days, c.new_days) for c in changes] == [
            ("power_wave_samples", 7, 2)
        ]


def test_the_rows_the_worker_builds_fit_their_tables(store: Store) -> None:
    """Every column the core and the worker fill (pipeline/core/rows.py,
    pipeline/worker/topic_rows.py) exists in its table, in the table's order."""
    from pipeline.core import rows
    from pipeline.core.wave import rows as wave_rows
    from pipeline.worker.topic_rows import DEAD_LETTER_COLUMNS

    written = {
        "alerts": rows.ALERT_COLUMNS,
        "rack_power": (*rows.RACK_POWER_COLUMNS, *rows.RACK_ENERGY_COLUMNS),
        "gpu_samples": (*rows.GPU_COLUMNS, *rows.GPU_ENERGY_COLUMNS),
        "facility_power": rows.FACILITY_COLUMNS,
        "work_samples": rows.WORK_COLUMNS,
        "link_samples": rows.LINK_COLUMNS,
        "site_power": rows.SITE_POWER_COLUMNS,
        "domain_power": rows.DOMAIN_POWER_COLUMNS,
        "dead_letters": DEAD_LETTER_COLUMNS,
        "power_wave": wave_rows.POWER_WAVE_COLUMNS,
        "power_wave_samples": wave_rows.SAMPLE_COLUMNS,
        "wave_features": wave_rows.FEATURE_COLUMNS,
        "load_drops": wave_rows.DROP_COLUMNS,
        "fleet_incidents": wave_rows.INCIDENT_COLUMNS,
        "dr_tracking": wave_rows.DR_TRACKING_COLUMNS,
        "dr_events": wave_rows.DR_EVENT_COLUMNS,
    }
    for table, columns in written.items():
        described = [str(row[0]) for row in store.query_rows(f"DESCRIBE TABLE {table}")]
        assert [c for c in described if c in columns] == list(columns), table
