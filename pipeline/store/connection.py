"""Where the store lives (from ``MEGAWATCH_CLICKHOUSE_DSN``) and how to open a client on it.

Two kinds of target:

* ``chdb:///abs/path`` (optionally ``?database=NAME``): the embedded chDB engine, data on
  disk under the path. chDB admits one process per directory, so one process, the store
  server (:mod:`pipeline.store.server`, started on demand by :mod:`pipeline.store.owner`),
  owns it, and this process talks to it with clickhouse-connect's HTTP client, as to a
  ClickHouse server. A ``database`` other than ``default`` is created on open.
* ``http(s)://user:pass@host:port/db``: a ClickHouse server (>= 24.3); the database must
  exist. ``MEGAWATCH_CLICKHOUSE_PASSWORD`` supplies the password when the URL has none.

Clients run with ``tz_mode="aware"`` so that ``DateTime64(3, 'UTC')`` values come back as
aware UTC datetimes (clickhouse-connect's default returns naive ones).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from pipeline.errors import ConfigError, StoreError
from pipeline.settings import Settings, redact_url
from pipeline.store import owner, server_files
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


def open_client(target: StoreTarget, idle_exit_s: float = 60.0) -> Client:
    """A clickhouse-connect client on the target, or :class:`StoreError` saying why not."""
    if target.path is not None:
        return _open_chdb(target, idle_exit_s)
    return _open_server(target)


def _open_chdb(target: StoreTarget, idle_exit_s: float) -> Client:
    """A client on the store server that owns the chDB directory (started if needed)."""
    import clickhouse_connect
    from clickhouse_connect.driver.exceptions import ClickHouseError

    assert target.path is not None
    info, token = owner.connect_info(target.path, idle_exit_s)
    try:
        client = clickhouse_connect.get_client(
            host=server_files.HOST,
            port=info.port,
            username=server_files.USER,
            password=token,
            tz_mode="aware",
            # Loopback: compression would cost CPU on both sides and save nothing.
            compress=False,
            autogenerate_session_id=False,
            # The server stays up while a client process lives (see store/server.py).
            headers={"X-Megawatch-Client-Pid": str(os.getpid())},
        )
    except (ClickHouseError, OSError) as exc:
        raise StoreError(
            f"cannot connect to the store server of {target.display} at {info.url}: "
            f"{one_line(exc, (token,))}"
        ) from exc
    if target.database:
        try:
            client.command(f"CREATE DATABASE IF NOT EXISTS `{target.database}`")
        except ClickHouseError as exc:
            client.close()
            raise StoreError(
                f"cannot create database {target.database} in {target.display}: {one_line(exc)}"
            ) from exc
        client.database = target.database
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
