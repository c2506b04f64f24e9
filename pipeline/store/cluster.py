"""The cluster form of the migrations: ``megawatch db migrate --cluster NAME``.

The migration files are written for one node. :func:`render_cluster` turns each of
their statements into the statements a ClickHouse cluster (shards x replicas, Keeper)
needs, so that there is one set of files to review and the cluster DDL cannot drift:

* ``CREATE TABLE t (...) ENGINE = XMergeTree(args)`` becomes the local table ``t_local``,
  ``ReplicatedXMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}', args)`` on
  every node, and ``t`` itself a Distributed table over the locals. Queries, named
  queries and the worker keep using ``t``: reads see every shard, inserts are routed.
  ``{uuid}`` (not the table's name) keys the Keeper path, so a renamed or re-created
  table never meets an old path.
* The sharding key is ``kafka_partition`` when the table has one: all rows of a Kafka
  partition, and the offset-ledger rows that the ledger views derive from them, land on
  one shard in one insert, so the ledger (read through its Distributed table) never runs
  ahead of the rows; and a fingerprint's alert states, or a dead letter's copies, which
  Kafka keeps in one partition, meet on one shard where FINAL can merge them. Other
  tables shard by a hash of their first sorting-key column (a site's rows stay together).
* Materialized views are created on every node, from the local source table into the
  local target table (rollups and ledger rows are written where the rows are).
* Plain views, ``ALTER TABLE`` and ``DROP`` get ``ON CLUSTER``; column changes go to the
  local and the Distributed table; a ``RENAME`` renames the locals and re-creates the
  Distributed tables over their new names; ``INSERT ... SELECT`` runs once, through the
  Distributed tables.
* ``non_replicated_deduplication_window`` becomes ``replicated_deduplication_window``:
  Replicated tables deduplicate an insert retried with the same
  ``insert_deduplication_token`` through Keeper, on whichever replica it lands.

A statement of another kind is a :class:`MigrationError` naming the file, so a new
migration that this renderer cannot place is caught by its test, not in production.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from pipeline.errors import MigrationError
from pipeline.store.migrations import HISTORY_DDL, HISTORY_TABLE, Migration

log = logging.getLogger(__name__)

LOCAL_SUFFIX = "_local"
REPLICA_PATH = "'/clickhouse/tables/{uuid}/{shard}'"
REPLICA_NAME = "'{replica}'"
#: The migration ledger is one replicated table over every node of every shard, so
#: that each node can answer `db status` and no shard applies a file twice.
HISTORY_ENGINE = "ReplicatedMergeTree('/clickhouse/tables/{uuid}/all', '{shard}-{replica}')"

_COMMENTS = re.compile(r"^\s*--.*$\n?", re.MULTILINE)
_NAME = r"`?([A-Za-z_][A-Za-z0-9_]*)`?"
_CREATE_TABLE = re.compile(rf"^CREATE TABLE (IF NOT EXISTS )?{_NAME}\s*\(", re.IGNORECASE)
_ENGINE = re.compile(r"\bENGINE\s*=\s*(\w*)MergeTree\b(\s*\(([^()]*)\))?", re.IGNORECASE)
_ORDER_BY = re.compile(r"\bORDER BY\s*\(?\s*`?(\w+)`?", re.IGNORECASE)
_MATERIALIZED = re.compile(
    rf"^CREATE MATERIALIZED VIEW (IF NOT EXISTS )?{_NAME}\s+TO\s+{_NAME}\s+AS\b", re.IGNORECASE
)
_VIEW = re.compile(rf"^CREATE VIEW (IF NOT EXISTS )?{_NAME}\s+AS\b", re.IGNORECASE)
_ALTER = re.compile(rf"^ALTER TABLE {_NAME}\s+(.*)$", re.IGNORECASE | re.DOTALL)
_COLUMN_ALTER = re.compile(r"^(ADD|DROP|MODIFY|RENAME|COMMENT) COLUMN\b", re.IGNORECASE)
_DROP = re.compile(rf"^DROP (TABLE|VIEW) (IF EXISTS )?{_NAME}\s*$", re.IGNORECASE)
_RENAME = re.compile(r"^RENAME TABLE\s+(.*)$", re.IGNORECASE | re.DOTALL)
_RENAME_PAIR = re.compile(rf"^\s*{_NAME}\s+TO\s+{_NAME}\s*$", re.IGNORECASE)
_INSERT_SELECT = re.compile(r"^INSERT INTO\b.*\bSELECT\b", re.IGNORECASE | re.DOTALL)


@dataclass
class ClusterCatalog:
    """What the renderer knows while it walks the files: each table's sharding key."""

    cluster: str
    database: str
    shard_keys: dict[str, str] = field(default_factory=dict)

    def local(self, name: str) -> str:
        return f"{name}{LOCAL_SUFFIX}"

    def distributed(self, name: str) -> str:
        return (
            f"CREATE TABLE IF NOT EXISTS `{name}` ON CLUSTER `{self.cluster}` "
            f"AS `{self.local(name)}` ENGINE = Distributed(`{self.cluster}`, "
            f"`{self.database}`, `{self.local(name)}`, {self.shard_keys[name]})"
        )


def render_cluster(
    migrations: Sequence[Migration], cluster: str, database: str
) -> dict[int, list[str]]:
    """The cluster statements of every migration, by version (walks them all, in order:
    a later file's statements depend on the tables the earlier ones created)."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", cluster):
        raise MigrationError(f"cluster name {cluster!r}: expected letters, digits, _ . -")
    catalog = ClusterCatalog(cluster, database)
    rendered: dict[int, list[str]] = {}
    for migration in migrations:
        statements: list[str] = []
        for number, statement in enumerate(migration.statements(), start=1):
            try:
                statements.extend(render_statement(statement, catalog))
            except MigrationError as exc:
                raise MigrationError(
                    f"migration {migration.filename}, statement {number}: {exc}"
                ) from None
        rendered[migration.version] = statements
    return rendered


def history_ddl(cluster: str) -> str:
    """The migration ledger's table on every node (one Keeper path for the cluster)."""
    ddl = HISTORY_DDL.replace(
        f"CREATE TABLE IF NOT EXISTS {HISTORY_TABLE}",
        f"CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} ON CLUSTER `{cluster}`",
    )
    return ddl.replace("ENGINE = MergeTree", f"ENGINE = {HISTORY_ENGINE}")


def render_statement(statement: str, catalog: ClusterCatalog) -> list[str]:
    """One single-node statement as cluster statements (see the module doc)."""
    sql = _COMMENTS.sub("", statement).strip()
    if _CREATE_TABLE.match(sql):
        return _create_table(sql, catalog)
    if _MATERIALIZED.match(sql):
        return [_materialized_view(sql, catalog)]
    if match := _VIEW.match(sql):
        return [_on_cluster(sql, match.end(2) + (sql[match.end(2)] == "`"), catalog)]
    if match := _ALTER.match(sql):
        return _alter(match.group(1), match.group(2), catalog)
    if match := _DROP.match(sql):
        return _drop(match.group(1).upper(), match.group(3), catalog)
    if match := _RENAME.match(sql):
        return _rename(match.group(1), catalog)
    if _INSERT_SELECT.match(sql):
        return [sql]  # once, through the Distributed tables
    raise MigrationError(
        f"no cluster form for {sql.split(chr(10))[0][:80]!r}: teach pipeline/store/cluster.py"
    )


def _create_table(sql: str, catalog: ClusterCatalog) -> list[str]:
    name = _CREATE_TABLE.match(sql).group(2)  # type: ignore[union-attr]  # matched by caller
    engine = _ENGINE.search(sql)
    if engine is None:
        raise MigrationError(f"table {name}: only MergeTree-family tables can be replicated")
    args = (engine.group(3) or "").strip()
    replicated = f"ENGINE = Replicated{engine.group(1)}MergeTree({REPLICA_PATH}, {REPLICA_NAME}"
    replicated += f", {args})" if args else ")"
    local = sql[: engine.start()] + replicated + sql[engine.end() :]
    local = local.replace("non_replicated_deduplication_window", "replicated_deduplication_window")
    head = _CREATE_TABLE.match(local)
    assert head is not None
    local = (
        f"CREATE TABLE IF NOT EXISTS `{catalog.local(name)}` ON CLUSTER `{catalog.cluster}` ("
        + local[head.end() :]
    )
    catalog.shard_keys[name] = _shard_key(sql, name)
    return [local, catalog.distributed(name)]


def _shard_key(sql: str, name: str) -> str:
    columns = sql[: _ENGINE.search(sql).start()]  # type: ignore[union-attr]  # checked
    if re.search(r"[(,]\s*`?kafka_partition`?\s", columns):
        return "kafka_partition"
    order = _ORDER_BY.search(sql)
    if order is None:
        raise MigrationError(f"table {name}: no ORDER BY to derive a sharding key from")
    return f"cityHash64(`{order.group(1)}`)"


def _materialized_view(sql: str, catalog: ClusterCatalog) -> str:
    match = _MATERIALIZED.match(sql)
    assert match is not None
    name, target = match.group(2), match.group(3)
    body = sql[match.end() :]
    for table in catalog.shard_keys:  # FROM/JOIN t and t.column name the local table
        local = catalog.local(table)
        body = re.sub(rf"\b(FROM|JOIN)\s+`?{table}`?(?=\s|$)", rf"\1 {local}", body, flags=re.I)
        body = re.sub(rf"(?<![\w.`]){table}\.(?=[`\w])", f"{local}.", body)
    return (
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS `{name}` ON CLUSTER `{catalog.cluster}` "
        f"TO `{catalog.local(target) if target in catalog.shard_keys else target}` AS{body}"
    )


def _on_cluster(sql: str, at: int, catalog: ClusterCatalog) -> str:
    return f"{sql[:at]} ON CLUSTER `{catalog.cluster}`{sql[at:]}"


def _alter(name: str, change: str, catalog: ClusterCatalog) -> list[str]:
    if name not in catalog.shard_keys:
        return [f"ALTER TABLE `{name}` ON CLUSTER `{catalog.cluster}` {change}"]
    local = f"ALTER TABLE `{catalog.local(name)}` ON CLUSTER `{catalog.cluster}` {change}"
    if not _COLUMN_ALTER.match(change.strip()):
        return [local]  # TTL, settings, indexes, mutations: the data lives in the locals
    return [local, f"ALTER TABLE `{name}` ON CLUSTER `{catalog.cluster}` {change}"]


def _drop(kind: str, name: str, catalog: ClusterCatalog) -> list[str]:
    on = f"ON CLUSTER `{catalog.cluster}` SYNC"
    if kind == "TABLE" and catalog.shard_keys.pop(name, None) is not None:
        return [
            f"DROP TABLE IF EXISTS `{name}` {on}",
            f"DROP TABLE IF EXISTS `{catalog.local(name)}` {on}",
        ]
    return [f"DROP {kind} IF EXISTS `{name}` {on}"]


def _rename(pairs_sql: str, catalog: ClusterCatalog) -> list[str]:
    pairs = []
    for part in pairs_sql.split(","):
        match = _RENAME_PAIR.match(part)
        if match is None:
            raise MigrationError(f"cannot read RENAME TABLE part {part.strip()!r}")
        pairs.append((match.group(1), match.group(2)))
    keys = {old: catalog.shard_keys.pop(old) for old, _ in pairs if old in catalog.shard_keys}
    renames = ", ".join(
        f"`{catalog.local(old)}` TO `{catalog.local(new)}`"
        if old in keys
        else f"`{old}` TO `{new}`"
        for old, new in pairs
    )
    # The Distributed tables name their local table: drop them, rename the locals, and
    # create them again over the new names.
    statements = [
        f"DROP TABLE IF EXISTS `{old}` ON CLUSTER `{catalog.cluster}` SYNC" for old in keys
    ]
    statements.append(f"RENAME TABLE {renames} ON CLUSTER `{catalog.cluster}`")
    for old, new in pairs:
        if old in keys:
            catalog.shard_keys[new] = keys[old]
            statements.append(catalog.distributed(new))
    return statements
