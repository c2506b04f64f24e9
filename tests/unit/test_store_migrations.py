"""Migration files: naming, ordering, statement splitting, checksums, history checks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.errors import MigrationError
from pipeline.store.migrations import (
    AppliedMigration,
    Migration,
    load_migrations,
    plan,
    split_statements,
)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1;", ["SELECT 1"]),
        ("SELECT 1", ["SELECT 1"]),
        (
            "CREATE TABLE a (x UInt8) ENGINE = Memory;\nCREATE TABLE b (y UInt8) ENGINE = Memory;\n",
            [
                "CREATE TABLE a (x UInt8) ENGINE = Memory",
                "CREATE TABLE b (y UInt8) ENGINE = Memory",
            ],
        ),
        # a ';' inside a line does not split; only one that ends a line does
        ("SELECT 'a;b' AS x;  \r\nSELECT 2;", ["SELECT 'a;b' AS x", "SELECT 2"]),
        # comment-only parts are dropped (even one split off by a comment ending in ';')
        ("-- header;\n-- note\n\nSELECT 1;\n-- trailing note\n", ["-- note\n\nSELECT 1"]),
        ("-- describes it\nSELECT 1;", ["-- describes it\nSELECT 1"]),
        ("\n\n  \n", []),
    ],
)
def test_split_statements(sql: str, expected: list[str]) -> None:
    assert split_statements(sql) == expected


def test_load_orders_by_version_and_skips_other_files(tmp_path: Path) -> None:
    (tmp_path / "010_later.sql").write_text("SELECT 10;\n")
    (tmp_path / "002_second.sql").write_text("SELECT 2;\n")
    (tmp_path / "001_first.sql").write_text("SELECT 1;\nSELECT 11;\n")
    (tmp_path / "README.md").write_text("not a migration")
    loaded = load_migrations(tmp_path)
    assert [(m.version, m.name) for m in loaded] == [(1, "first"), (2, "second"), (10, "later")]
    assert loaded[0].statements() == ["SELECT 1", "SELECT 11"]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (["1_short.sql"], "1_short.sql: name must be NNN_name.sql"),
        (["001_bad-name.sql"], "001_bad-name.sql: name must be NNN_name.sql"),
        (["001_a.sql", "0001_b.sql"], "share version 1"),
    ],
)
def test_load_rejects_bad_names(tmp_path: Path, files: list[str], message: str) -> None:
    for name in files:
        (tmp_path / name).write_text("SELECT 1;\n")
    with pytest.raises(MigrationError, match=message):
        load_migrations(tmp_path)


def test_missing_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="nowhere"):
        load_migrations(tmp_path / "nowhere")


def test_checksum_ignores_line_endings_only() -> None:
    unix = Migration(1, "a", "001_a.sql", "SELECT 1;\nSELECT 2;\n")
    windows = Migration(1, "a", "001_a.sql", "SELECT 1;\r\nSELECT 2;\r\n")
    edited = Migration(1, "a", "001_a.sql", "SELECT 1;\nSELECT 3;\n")
    assert unix.checksum == windows.checksum != edited.checksum
    assert len(unix.checksum) == 64


def _record(migration: Migration, checksum: str | None = None) -> AppliedMigration:
    return AppliedMigration(
        migration.version,
        migration.name,
        checksum or migration.checksum,
        datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_plan_splits_applied_pending_and_unknown() -> None:
    first = Migration(1, "first", "001_first.sql", "SELECT 1;")
    second = Migration(2, "second", "002_second.sql", "SELECT 2;")
    newer = AppliedMigration(7, "from_the_future", "x" * 64, datetime(2026, 1, 1, tzinfo=UTC))
    status = plan([_record(first), newer], [first, second], "chdb:///s")
    assert [r.version for r in status.applied] == [1]
    assert status.pending == [second]
    assert status.unknown == [newer]


def test_plan_names_a_file_changed_after_it_was_applied() -> None:
    first = Migration(1, "first", "001_first.sql", "SELECT 1;")
    with pytest.raises(MigrationError, match=r"001_first\.sql was changed after it was applied"):
        plan([_record(first, checksum="0" * 64)], [first], "chdb:///s")


def test_bundled_migrations_are_found_and_portable() -> None:
    bundled = load_migrations()
    assert [m.filename for m in bundled][:2] == ["001_raw_tables.sql", "002_minute_rollups.sql"]
    for migration in bundled:
        for statement in migration.statements():
            body = "\n".join(
                line for line in statement.splitlines() if not line.lstrip().startswith("--")
            )
            # re-runnable after a half-applied file, and no naive time columns
            assert "IF NOT EXISTS" in body, (migration.filename, body[:80])
            assert " DateTime," not in body and "DateTime(" not in body.replace("toDateTime(", "")
