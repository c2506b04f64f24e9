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


def yaml_error(path: object, exc: Exception, label: str = "") -> ConfigError:
    """A YAML parser's error (PyYAML's ``MarkedYAMLError``) as one line naming the file,
    line and column, and what the parser expected: ``sites.yaml, line 3, column 12: not
    valid YAML: expected ',' or '}', but got '<scalar>' (while parsing a flow mapping)``."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or (str(exc).splitlines() or [""])[0]
    context = getattr(exc, "context", None)
    detail = f" ({context})" if context else ""
    return ConfigError(f"{label}{path}{where}: not valid YAML: {problem}{detail}")
