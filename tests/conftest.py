"""Shared fixtures.

Store fixtures: the stores of a pytest run live under one session-wide chDB directory
(``chdb_root``, served by one store server) and each test gets its own fresh database
there (``chdb:///root?database=t_<random>``), dropped afterwards. Subprocesses get their own directories (``subprocess_store_env``; run them with
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


@pytest.fixture(scope="session", autouse=True)
def stop_store_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Stop the embedded stores' servers of this run: those this process started and
    those its children started under the run's temporary directory (they would
    otherwise wait MEGAWATCH_STORE_IDLE_EXIT_S after their last client)."""
    yield
    from pipeline.store import owner
    from pipeline.store.server_files import DISCOVERY_FILE

    paths = {path for path, _pid in owner.STARTED}
    paths |= {found.parent for found in tmp_path_factory.getbasetemp().rglob(DISCOVERY_FILE)}
    for path in paths:
        owner.stop(path)


@pytest.fixture(scope="session")
def chdb_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's chDB data directory (its store server serves every test database)."""
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
def subprocess_store_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for a child process with its own chDB directory under tmp_path; the
    store server a child starts for it is stopped after the test."""
    from pipeline.store import owner

    env = {k: v for k, v in os.environ.items() if not k.startswith("MEGAWATCH_")}
    env["MEGAWATCH_CLICKHOUSE_DSN"] = f"chdb://{tmp_path / 'child-store'}"
    env["MEGAWATCH_DATA_DIR"] = str(tmp_path / "child-data")
    yield env
    if (tmp_path / "child-store").is_dir():
        owner.stop(tmp_path / "child-store")
