"""The ClickHouse store: embedded chDB (``chdb:///path``) or a server (``http(s)://``).

``open_store(settings)`` gives a :class:`Store` (a context manager) for the DSN in
``MEGAWATCH_CLICKHOUSE_DSN``; an embedded (``chdb://``) store is reached over HTTP
through its store server (:mod:`pipeline.store.server`, started on demand by
:mod:`pipeline.store.owner`), like a ClickHouse server. ``Store.migrate()`` applies
``sql/migrations``; the table layout is described in the migration files themselves.
``named_query(store_or_settings, name, **params)`` runs a query of ``sql/queries`` and
returns a DataFrame.
"""

from pipeline.store.client import Store, open_store
from pipeline.store.migrations import AppliedMigration, Migration, MigrationStatus
from pipeline.store.named import NamedQuery, named_queries, named_query
from pipeline.store.retention import TtlChange

__all__ = [
    "AppliedMigration",
    "Migration",
    "MigrationStatus",
    "NamedQuery",
    "Store",
    "TtlChange",
    "named_queries",
    "named_query",
    "open_store",
]
