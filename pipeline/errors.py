"""The exceptions megawatch raises, as one small tree under :class:`MegawatchError`.

Library errors (aiokafka, clickhouse-connect, chDB, httpx) are translated into these at
the edge that calls the library (``raise StoreError(...) from exc``), so callers and the
CLI handle one family. Every message is one line that names what to fix (a setting,
topic, partition, offset or path) and never contains a secret.
"""

from __future__ import annotations


class MegawatchError(Exception):
    """Root of every error megawatch raises on purpose."""


class ConfigError(MegawatchError):
    """A setting or a user-supplied file is invalid; the message names it."""


class BrokerError(MegawatchError):
    """The Kafka broker (embedded or remote) cannot be started or reached."""


class StoreError(MegawatchError):
    """ClickHouse (embedded chDB or a server) failed or rejected a statement."""


class StoreInUseError(StoreError):
    """The embedded chDB data directory is owned by another process."""


class MigrationError(StoreError):
    """A migration file failed to apply, or the recorded history does not match."""


class QueryError(StoreError):
    """A named query is unknown or was given missing or malformed parameters."""


class SourceError(MegawatchError):
    """A site-agent source (simulator, replay file, NVML) cannot produce readings."""
