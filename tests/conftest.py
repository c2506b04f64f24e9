"""Shared fixtures.

Store fixtures: chDB binds a process to one data directory while any client is open,
so every in-process store of a pytest run lives under one session-wide directory
(``chdb_root``) and each test gets its own fresh database there
(``chdb:///root?database=t_<random>``), dropped afterwards. The client is closed after
each test, so a test may still open another directory in-process once the store
fixtures are done. Subprocesses get their own directories (``subprocess_store_env``; run them with
``cwd=tmp_path`` so that no stray ``.env`` is read).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.settings import Settings, load_settings
from pipeline.store import Store, open_store


@pytest.fixture(scope="session")
def chdb_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one chDB data directory this pytest process opens in-process."""
    return tmp_path_factory.mktemp("chdb") / "store"


@pytest.fixture
def store_settings(chdb_root: Path, tmp_path: Path) -> Settings:
    """Settings naming a fresh database in the session's chDB directory."""
    database = f"t_{uuid.uuid4().hex[:12]}"
    return load_settings(
        clickhouse_dsn=f"chdb://{chdb_root}?database={database}", data_dir=tmp_path / "data"
    )


@pytest.fixture
def empty_store(store_settings: Settings) -> Iterator[Store]:
    """An open store on a fresh, empty database (no migrations applied)."""
    store = open_store(store_settings)
    try:
        yield store
    finally:
        try:
            store.command(f"DROP DATABASE IF EXISTS `{store.target.database}` SYNC")
        finally:
            store.close()


@pytest.fixture
def store(empty_store: Store) -> Store:
    """An open store on a fresh database with every migration applied."""
    empty_store.migrate()
    return empty_store


@pytest.fixture
def subprocess_store_env(tmp_path: Path) -> dict[str, str]:
    """Environment for a child process with its own chDB directory under tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEGAWATCH_")}
    env["MEGAWATCH_CLICKHOUSE_DSN"] = f"chdb://{tmp_path / 'child-store'}"
    env["MEGAWATCH_DATA_DIR"] = str(tmp_path / "child-data")
    return env
