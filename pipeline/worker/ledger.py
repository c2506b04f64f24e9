"""The offset ledger: what the store already holds of each partition, per table.

Rows from Kafka carry their cluster id, partition and offset, and a materialized view
records the highest offset stored per table and partition in ``ingest_offsets`` within
the same INSERT (sql/migrations/003). After a restart or rebalance, a message at or
below that offset is not stored again (:meth:`OffsetLedger.already_stored`), while live
state is still rebuilt from it.

The ledger of a partition is read from the store the first time one of its messages
needs it, and checked against the end of the log: a ledger past the end is not this
log's (the topic or the cluster was recreated), so it is set aside and recorded in
``ledger_resets``, never used to skip messages silently. The sink advances it after
every insert (:meth:`OffsetLedger.record`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from pipeline.store.columns import ColumnStore
from pipeline.worker.persist import until_done

__all__ = ["LEDGER_TABLE", "RESETS_TABLE", "OffsetLedger"]

logger = logging.getLogger(__name__)

LEDGER_TABLE = "ingest_offsets"
RESETS_TABLE = "ledger_resets"

#: (table, topic, partition)
Key = tuple[str, str, int]


class OffsetLedger:
    def __init__(self, writer: ColumnStore, cluster_id: str) -> None:
        self.writer = writer
        self.cluster_id = cluster_id
        self._stored: dict[Key, int] = {}
        self._loaded: set[Key] = set()
        #: (topic, partition) -> the end of its log as last fetched (set by the app)
        self.log_end: Callable[[str, int], int | None] = lambda topic, partition: None
        #: called with the topic whenever a ledger is set aside (a metric)
        self.on_reset: Callable[[str], None] = lambda topic: None

    # --- the stream side --------------------------------------------------------------
    async def already_stored(self, table: str, topic: str, partition: int, offset: int) -> bool:
        """True when a message at ``offset`` was stored before a restart or rebalance
        (the partition's ledger is read and checked on first use, retried until it is)."""
        key = (table, topic, partition)
        if key not in self._loaded:
            await until_done(
                f"reading the stored offsets of {table} for {topic}[{partition}]",
                lambda: asyncio.to_thread(self.load, table, topic, [partition]),
            )
            self._loaded.add(key)
            await self._check_against_log(table, topic, partition)
        return self.stored_before(table, topic, partition, offset)

    def stored_before(self, table: str, topic: str, partition: int, offset: int) -> bool:
        """The ledger as loaded: True when ``offset`` is at or below the stored one."""
        stored = self._stored.get((table, topic, partition))
        return stored is not None and offset <= stored

    def stored_offset(self, table: str, topic: str, partition: int) -> int | None:
        return self._stored.get((table, topic, partition))

    async def _check_against_log(self, table: str, topic: str, partition: int) -> None:
        """Never skip silently: a ledger past the end of the log is not this log's.

        The ledger says offsets up to N are stored; a log that ends at or below N was
        recreated (topic deleted and created, a new cluster under the same id): its
        messages are new, not replays, and must be stored.
        """
        stored = self.stored_offset(table, topic, partition)
        end = self.log_end(topic, partition)
        if stored is None or end is None or stored < end:
            return
        logger.error(
            "%s[%d]: the store holds offsets up to %d but the log ends at %d: the topic or "
            "cluster was recreated; storing its messages as new (ledger set aside for %s)",
            topic,
            partition,
            stored,
            end,
            table,
        )
        self.on_reset(topic)
        await until_done(
            f"setting aside the ledger of {table} for {topic}[{partition}]",
            lambda: asyncio.to_thread(self.reset, table, topic, partition, end),
        )

    # --- the store side ---------------------------------------------------------------
    def load(self, table: str, topic: str, partitions: Sequence[int]) -> None:
        """Read the stored high-water offsets of ``partitions`` (blocking: a thread)."""
        rows = self.writer.query_rows(
            f"SELECT partition, max(max_offset) FROM {LEDGER_TABLE} "
            "WHERE cluster_id = {cluster:String} AND tbl = {tbl:String} "
            "AND topic = {topic:String} AND partition IN {parts:Array(UInt16)} "
            "GROUP BY partition",
            {"cluster": self.cluster_id, "tbl": table, "topic": topic, "parts": list(partitions)},
        )
        for partition in partitions:
            self._stored.pop((table, topic, partition), None)
        for partition, offset in rows:
            self._stored[(table, topic, int(partition))] = int(offset)

    def reset(self, table: str, topic: str, partition: int, log_end: int) -> None:
        """Set the ledger of a partition aside (its log ends below it) and record that."""
        stored = self._stored.pop((table, topic, partition), None)
        if stored is None:
            return
        self.writer.insert_columns(
            RESETS_TABLE,
            ("at", "cluster_id", "tbl", "topic", "partition", "stored_offset", "log_end"),
            [
                [datetime.now(UTC)],
                [self.cluster_id],
                [table],
                [topic],
                [partition],
                [stored],
                [log_end],
            ],
        )

    def record(self, table: str, offsets: Mapping[tuple[str, int], int]) -> None:
        """Advance the ledger after an insert of rows up to these (topic, partition)
        offsets (the view wrote the same into ``ingest_offsets``)."""
        for (topic, partition), offset in offsets.items():
            key = (table, topic, partition)
            self._stored[key] = max(offset, self._stored.get(key, -1))

    def keep_partitions(self, topic: str, owned: set[int]) -> None:
        """Drop the ledger of partitions of ``topic`` no longer owned (re-read if they
        come back: another worker may have stored more meanwhile)."""
        for key in [k for k in self._stored if k[1] == topic and k[2] not in owned]:
            del self._stored[key]
        self._loaded = {k for k in self._loaded if not (k[1] == topic and k[2] not in owned)}
