"""The ClickHouse store: embedded chDB (``chdb:///path``) or a server (``http(s)://``).

``open_store(settings)`` gives a :class:`Store` (a context manager) for the DSN in
``MEGAWATCH_CLICKHOUSE_DSN``; ``Store.migrate()`` applies ``sql/migrations``. The table
layout is described in the migration files themselves.
"""

from pipeline.store.client import Store, open_store
from pipeline.store.migrations import AppliedMigration, Migration, MigrationStatus
from pipeline.store.retention import TtlChange

__all__ = [
    "AppliedMigration",
    "Migration",
    "MigrationStatus",
    "Store",
    "TtlChange",
    "open_store",
]
