"""Where the store lives (from ``MEGAWATCH_CLICKHOUSE_DSN``) and how to open a client on it.

Two kinds of target:

* ``chdb:///abs/path`` (optionally ``?database=NAME``): the embedded chDB engine through
  clickhouse-connect's chDB backend, data on disk under the path. The engine allows one
  process per data directory and one directory per process; :mod:`pipeline.store.inuse`
  turns the engine's unhelpful errors about that into :class:`StoreInUseError`. A
  ``database`` other than ``default`` is created on open (the engine is ours).
* ``http(s)://user:pass@host:port/db``: a ClickHouse server (>= 24.3); the database must
  exist. ``MEGAWATCH_CLICKHOUSE_PASSWORD`` supplies the password when the URL has none.

Clients run with ``tz_mode="aware"`` so that ``DateTime64(3, 'UTC')`` values come back as
aware UTC datetimes (clickhouse-connect's default returns naive ones).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from pipeline.errors import ConfigError, StoreError
from pipeline.settings import Settings, redact_url
from pipeline.store.inuse import captured_stderr, diagnose_open_failure
from pipeline.store.messages import one_line

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

DSN_VARIABLE = "MEGAWATCH_CLICKHOUSE_DSN"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


@dataclass(frozen=True)
class StoreTarget:
    """The store a DSN names. ``dsn`` may hold a password: show ``display`` instead."""

    dsn: str = field(repr=False)
    display: str
    path: Path | None = None  # the chDB data directory; None for a server
    database: str | None = None  # None: the DSN's or the server's default
    password: str | None = field(default=None, repr=False)  # MEGAWATCH_CLICKHOUSE_PASSWORD

    @property
    def embedded(self) -> bool:
        return self.path is not None

    @property
    def secrets(self) -> tuple[str, ...]:
        url_password = urlsplit(self.dsn).password
        return tuple(s for s in (self.password, url_password and unquote(url_password)) if s)


def parse_target(settings: Settings) -> StoreTarget:
    """The store named by the settings; a malformed chdb DSN is a :class:`ConfigError`."""
    dsn = settings.store_dsn
    parts = urlsplit(dsn)
    if parts.scheme != "chdb":
        password = settings.clickhouse_password
        return StoreTarget(
            dsn=dsn,
            display=settings.store_dsn_redacted,
            password=password.get_secret_value() if password and not parts.password else None,
        )
    if parts.netloc or not parts.path.startswith("/"):
        raise ConfigError(
            f"{DSN_VARIABLE}: expected chdb:///absolute/path (three slashes), got {redact_url(dsn)}"
        )
    database = _chdb_database(parts.query)
    path = Path(unquote(parts.path))
    display = f"chdb://{path}" + (f" (database {database})" if database else "")
    return StoreTarget(dsn=dsn, display=display, path=path, database=database)


def _chdb_database(query: str) -> str | None:
    params = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(params) - {"database"})
    if unknown:
        raise ConfigError(
            f"{DSN_VARIABLE}: unknown chdb option(s) {', '.join(unknown)}; "
            "only ?database=NAME is understood"
        )
    if "database" not in params:
        return None
    name = params["database"][-1]
    if not _IDENTIFIER.match(name):
        raise ConfigError(
            f"{DSN_VARIABLE}: database must be 1-64 letters, digits or _, got {name!r}"
        )
    return name


def open_client(target: StoreTarget) -> Client:
    """A clickhouse-connect client on the target, or :class:`StoreError` saying why not."""
    if target.path is not None:
        return _open_chdb(target.path, target.database, target.display)
    return _open_server(target)


def _open_chdb(path: Path, database: str | None, display: str) -> Client:
    import clickhouse_connect
    from clickhouse_connect.driver.exceptions import ClickHouseError

    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot create the chDB data directory {path} ({DSN_VARIABLE}): {exc.strerror}"
        ) from exc
    # chDB prints the real cause of a failed open (e.g. "Cannot lock file .../status")
    # on fd 2 only, so catch it for the diagnosis; on success it is passed on.
    with captured_stderr() as stderr:
        try:
            client = clickhouse_connect.get_client(dsn=f"chdb://{path}", tz_mode="aware")
        except (ClickHouseError, RuntimeError) as exc:
            failure: Exception | None = exc
        else:
            failure = None
    if failure is not None:
        raise diagnose_open_failure(path, failure, stderr.text) from failure
    if stderr.text:
        sys.stderr.write(stderr.text)
    if database:
        try:
            client.command(f"CREATE DATABASE IF NOT EXISTS `{database}`")
        except ClickHouseError as exc:
            client.close()
            raise StoreError(
                f"cannot create database {database} in {display}: {one_line(exc)}"
            ) from exc
        client.database = database
    return client


def _open_server(target: StoreTarget) -> Client:
    import clickhouse_connect
    from clickhouse_connect.driver.exceptions import ClickHouseError

    extra: dict[str, Any] = {"password": target.password} if target.password else {}
    try:
        # No HTTP session: a session serializes queries, and the sink and readers may
        # share one Store from several threads.
        return clickhouse_connect.get_client(
            dsn=target.dsn, tz_mode="aware", autogenerate_session_id=False, **extra
        )
    except (ClickHouseError, OSError) as exc:
        raise StoreError(
            f"cannot connect to ClickHouse at {target.display} ({DSN_VARIABLE}): "
            f"{one_line(exc, target.secrets)}"
        ) from exc
