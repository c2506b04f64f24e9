"""The cluster form of the migrations (pipeline/store/cluster.py), rendered from EVERY file
in sql/migrations: replicated locals, Distributed tables, ON CLUSTER, views on locals."""

from __future__ import annotations

import re

import pytest

from pipeline.errors import MigrationError
from pipeline.store.cluster import (
    ClusterCatalog,
    history_ddl,
    render_cluster,
    render_statement,
)
from pipeline.store.migrations import Migration, load_migrations, split_statements

CLUSTER = "megawatch"
MIGRATIONS = load_migrations()
RENDERED = render_cluster(MIGRATIONS, CLUSTER, "megawatch")
ALL = [statement for version in sorted(RENDERED) for statement in RENDERED[version]]
CREATED = re.compile(r"^CREATE TABLE IF NOT EXISTS `(\w+)`")


def _single_node_tables() -> set[str]:
    """Tables the single-node files leave behind (created, minus dropped, renames applied)."""
    tables: set[str] = set()
    for migration in MIGRATIONS:
        for statement in split_statements(migration.sql):
            body = re.sub(r"^\s*--.*$\n?", "", statement, flags=re.M).strip()
            if m := re.match(r"CREATE TABLE IF NOT EXISTS (\w+)", body):
                tables.add(m.group(1))
            elif m := re.match(r"DROP TABLE IF EXISTS (\w+)", body):
                tables.discard(m.group(1))
            elif body.startswith("RENAME TABLE"):
                for old, new in re.findall(r"(\w+) TO (\w+)", body):
                    tables.discard(old)
                    tables.add(new)
    return tables


def test_every_migration_file_renders() -> None:
    assert sorted(RENDERED) == [m.version for m in MIGRATIONS]
    assert all(RENDERED[m.version] for m in MIGRATIONS), "a file rendered to nothing"


def test_every_statement_runs_on_the_cluster_except_data_copies() -> None:
    for statement in ALL:
        if statement.startswith("INSERT INTO"):
            assert "ON CLUSTER" not in statement  # once, through Distributed tables
        else:
            assert f"ON CLUSTER `{CLUSTER}`" in statement, statement[:120]


def test_every_table_is_replicated_or_distributed() -> None:
    for statement in ALL:
        for engine in re.findall(r"ENGINE = (\w+)", statement):
            assert engine.startswith("Replicated") or engine == "Distributed", statement[:160]
        assert "non_replicated_deduplication_window" not in statement
    locals_ = [s for s in ALL if re.match(r"CREATE TABLE IF NOT EXISTS `\w+_local`", s)]
    assert locals_ and all("'/clickhouse/tables/{uuid}/{shard}', '{replica}'" in s for s in locals_)
    rack_power = next(s for s in locals_ if "`rack_power_local`" in s)
    assert "SETTINGS replicated_deduplication_window = 1000" in rack_power


def test_each_final_table_is_distributed_over_its_local_table() -> None:
    distributed: dict[str, str] = {}
    for statement in ALL:
        if m := re.match(
            r"CREATE TABLE IF NOT EXISTS `(\w+)` ON CLUSTER `\w+` AS `(\w+)` "
            r"ENGINE = Distributed\(`megawatch`, `megawatch`, `(\w+)`, (.+)\)$",
            statement,
        ):
            assert m.group(2) == m.group(3) == f"{m.group(1)}_local"
            distributed[m.group(1)] = m.group(4)
        elif m := re.match(r"DROP TABLE IF EXISTS `(\w+)` ", statement):
            distributed.pop(m.group(1), None)
    assert set(distributed) == _single_node_tables()
    # a Kafka partition's rows and their ledger rows, and Replacing tables' copies, meet
    # on one shard
    for table in ("rack_power", "gpu_samples", "link_samples", "alerts"):
        assert distributed[table] == "kafka_partition", table
    assert distributed["site_power"] == "cityHash64(`site`)"


def test_materialized_views_read_and_write_local_tables() -> None:
    views = [s for s in ALL if s.startswith("CREATE MATERIALIZED VIEW")]
    assert len(views) >= 9
    for view in views:
        target = re.search(r" TO `(\w+)` AS", view)
        assert target and target.group(1).endswith("_local"), view[:120]
        sources = re.findall(r"\bFROM\s+`?(\w+)", view)
        assert sources and all(s.endswith("_local") for s in sources), view[-200:]
        # qualified columns (site_power.cap_w) follow the source to its local name
        code = re.sub(r"'[^']*'", "''", view)  # not 'telemetry.gpu' literals
        for qualifier in re.findall(r"(?<![\w.`])(\w+)\.[a-z_]+\b", code):
            assert qualifier.endswith("_local"), (qualifier, view[:80])


@pytest.mark.parametrize(("column", "table"), [("reported_w", "site_power"), ("domain", "alerts")])
def test_column_changes_reach_local_and_distributed_tables(column: str, table: str) -> None:
    added = [s for s in ALL if f"ADD COLUMN IF NOT EXISTS {column} " in s]
    assert [re.match(r"ALTER TABLE `(\w+)`", s).group(1) for s in added] == [  # type: ignore[union-attr]
        f"{table}_local",
        table,
    ]


def test_a_rename_recreates_distributed_tables_over_the_renamed_locals() -> None:
    catalog = ClusterCatalog(CLUSTER, "db")
    for sql in (
        "CREATE TABLE IF NOT EXISTS a (x UInt8, kafka_partition UInt16) ENGINE = MergeTree ORDER BY x",
        "CREATE TABLE IF NOT EXISTS b (site String) ENGINE = ReplacingMergeTree(v) ORDER BY site",
    ):
        render_statement(sql, catalog)
    out = render_statement("RENAME TABLE a TO a_old, b TO a", catalog)
    assert out[:2] == [
        "DROP TABLE IF EXISTS `a` ON CLUSTER `megawatch` SYNC",
        "DROP TABLE IF EXISTS `b` ON CLUSTER `megawatch` SYNC",
    ]
    assert out[2] == (
        "RENAME TABLE `a_local` TO `a_old_local`, `b_local` TO `a_local` ON CLUSTER `megawatch`"
    )
    assert out[3].endswith("Distributed(`megawatch`, `db`, `a_old_local`, kafka_partition)")
    assert out[4].endswith("Distributed(`megawatch`, `db`, `a_local`, cityHash64(`site`))")
    assert catalog.shard_keys == {"a_old": "kafka_partition", "a": "cityHash64(`site`)"}


def test_engine_arguments_follow_the_replication_arguments() -> None:
    catalog = ClusterCatalog(CLUSTER, "db")
    local, _ = render_statement(
        "CREATE TABLE IF NOT EXISTS t (v UInt64) ENGINE = ReplacingMergeTree(v) ORDER BY v",
        catalog,
    )
    assert (
        "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{uuid}/{shard}', "
        "'{replica}', v)" in local
    )


def test_ttl_and_setting_changes_go_to_the_local_tables_only() -> None:
    catalog = ClusterCatalog(CLUSTER, "db")
    render_statement(
        "CREATE TABLE IF NOT EXISTS t (ts DateTime) ENGINE = MergeTree ORDER BY ts", catalog
    )
    assert render_statement("ALTER TABLE t MODIFY TTL ts + INTERVAL 1 DAY", catalog) == [
        "ALTER TABLE `t_local` ON CLUSTER `megawatch` MODIFY TTL ts + INTERVAL 1 DAY"
    ]


def test_the_migration_ledger_is_one_replicated_table_over_all_nodes() -> None:
    ddl = history_ddl(CLUSTER)
    assert "megawatch_migrations ON CLUSTER `megawatch`" in ddl
    # no {shard} in the path: every node of every shard replicates one ledger
    assert "ReplicatedMergeTree('/clickhouse/tables/{uuid}/all', '{shard}-{replica}')" in ddl


@pytest.mark.parametrize(
    "sql",
    [
        "OPTIMIZE TABLE rack_power FINAL",
        "CREATE TABLE IF NOT EXISTS m (x UInt8) ENGINE = Memory",
        "CREATE TABLE IF NOT EXISTS n (x UInt8) ENGINE = MergeTree PRIMARY KEY tuple()",
    ],
)
def test_a_statement_without_a_cluster_form_names_the_file(sql: str) -> None:
    migration = Migration(99, "odd", "099_odd.sql", sql + ";\n")
    with pytest.raises(MigrationError, match=r"099_odd.sql, statement 1"):
        render_cluster([migration], CLUSTER, "db")


def test_cluster_name_is_checked() -> None:
    with pytest.raises(MigrationError, match="cluster name"):
        render_cluster(MIGRATIONS, "bad name`", "db")
