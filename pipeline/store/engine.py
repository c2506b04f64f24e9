"""The chDB engine behind the store server: a pool of connection handles on one directory.

chDB runs one ClickHouse engine per process but any number of connection handles on it,
and handles run queries in parallel. Each handle keeps session state (``USE``, ``SET``),
so the pool keeps that state from leaking between requests, the way a ClickHouse server
keeps HTTP requests apart:

* a request without settings runs on a pooled handle (``USE`` is tracked per handle);
* a request with settings runs on a fresh handle, with ``SET``, that is closed after it.
  Settings such as ``readonly`` cannot be turned off again once on (MEASURED.md: the
  chDB backend of clickhouse-connect kept read-only on after a refused INSERT, and every
  later insert failed), so such a handle is never reused;
* an insert with data streams into ``send_insert`` with its settings in the statement's
  ``SETTINGS`` clause, which applies to that statement only.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.store.inuse import captured_stderr, diagnose_open_failure

_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A statement that changes the handle's session: run on a handle thrown away after.
_SESSION_STATEMENT = re.compile(r"^\s*(SET|USE)\b", re.IGNORECASE)
_POOL_SIZE = 8
#: Errors by which the engine failed to write data (their count in ``system.errors``).
_WRITE_FAILURE_NAMES = (
    "NOT_ENOUGH_SPACE",
    "CANNOT_WRITE_TO_FILE_DESCRIPTOR",
    "CANNOT_WRITE_TO_OSTREAM",
    "CANNOT_FSYNC",
    "CANNOT_ALLOCATE_MEMORY",
    "MEMORY_LIMIT_EXCEEDED",
)
_WRITE_FAILURES_SQL = (
    "SELECT sum(value), argMax(last_error_message, last_error_time) FROM system.errors "
    "WHERE name IN (" + ", ".join(f"'{n}'" for n in _WRITE_FAILURE_NAMES) + ")"
)


class EngineError(Exception):
    """A statement failed in the engine; ``code`` is ClickHouse's error code (0: none)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        match = re.search(r"Code: (\d+)\.", message)
        self.code = int(match.group(1)) if match else 0


@dataclass
class Result:
    body: bytes
    rows: int = 0  # rows read (queries) or written (inserts)
    bytes: int = 0


class _Handle:
    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.database = "default"


class Engine:
    """The engine on ``path``; thread-safe (a handle serves one call at a time)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # chDB prints the real cause of a failed open (e.g. "Cannot lock file .../status")
        # on fd 2 only: catch it for the one-line diagnosis.
        with captured_stderr() as stderr:
            try:
                first = self._connect()
            except RuntimeError as exc:
                failure: Exception | None = exc
            else:
                failure = None
        if failure is not None:
            raise diagnose_open_failure(path, failure, stderr.text) from failure
        self._idle: queue.LifoQueue[_Handle] = queue.LifoQueue()
        self._idle.put(_Handle(first))
        self._opened = 1
        self._lock = threading.Lock()
        #: the engine's write failures as last read (count, last message): the count an
        #: insert compares with after it, so that each insert reads system.errors once
        self._failures_seen: tuple[int, str] | None = None

    def timezone(self) -> str:
        return self.query("SELECT timezone()", "TSVRaw").body.decode().strip()

    def query(
        self,
        sql: str,
        fmt: str,
        params: Mapping[str, str] | None = None,
        settings: Mapping[str, str] | None = None,
        database: str | None = None,
    ) -> Result:
        """Run one statement; ``fmt`` is the output format unless the SQL names one."""
        throwaway = bool(settings) or bool(_SESSION_STATEMENT.match(sql))
        handle = self._fresh() if throwaway else self._take()
        try:
            self._use(handle, database)
            for name, value in (settings or {}).items():
                if name != "readonly":
                    self._run(handle, f"SET {_name(name)} = {_quote(value)}")
            if settings and "readonly" in settings:  # last: readonly=1 forbids later SETs
                self._run(handle, f"SET readonly = {_quote(settings['readonly'])}")
            result = self._run(handle, sql, fmt, params)
            return Result(result.bytes(), int(result.rows_read()), int(result.bytes_read()))
        finally:
            self._release(handle, throwaway)

    def insert(
        self,
        statement: str,
        fmt: str,
        data: bytes,
        settings: Mapping[str, str] | None = None,
        database: str | None = None,
    ) -> Result:
        """``INSERT INTO t (cols)`` fed ``data`` in ``fmt``; settings for this insert only."""
        if settings:
            clause = ", ".join(f"{_name(k)} = {_quote(v)}" for k, v in settings.items())
            statement = f"{statement} SETTINGS {clause}"
        handle = self._take()
        try:
            self._use(handle, database)
            failures = self._failures_before(handle)
            try:
                with handle.conn.send_insert(statement, fmt) as inserter:
                    if data:
                        inserter.append(data)
                    written = inserter.finish()
            except RuntimeError as exc:
                raise EngineError(_engine_message(exc)) from exc
            self._check_written(handle, failures)
            return Result(b"", int(written.rows_written), int(written.bytes_written))
        finally:
            self._release(handle, False)

    def _write_failures(self, handle: _Handle) -> tuple[int, str]:
        """How often the engine failed to write so far, and its last such message."""
        body = self._run(handle, _WRITE_FAILURES_SQL, "TSVRaw").bytes().decode()
        count, _, message = body.rstrip("\n").partition("\t")
        return int(count or 0), message

    def _failures_before(self, handle: _Handle) -> tuple[int, str]:
        """The write failures counted before an insert: the last count read, read now
        only the first time. The count only grows, so a failure during the insert still
        shows as a higher count after it; reading it once per insert instead of twice
        saves a query of about 2.5 ms of CPU per insert (a tenth of a small insert)."""
        with self._lock:
            seen = self._failures_seen
        if seen is None:
            seen = self._write_failures(handle)
            self._note_failures(seen)
        return seen

    def _note_failures(self, counted: tuple[int, str]) -> None:
        with self._lock:
            if self._failures_seen is None or counted[0] > self._failures_seen[0]:
                self._failures_seen = counted

    def _check_written(self, handle: _Handle, before: tuple[int, str]) -> None:
        """chDB's ``send_insert`` reports rows written when the disk is full (measured
        with chDB 4.4: ``finish()`` returned rows_written=3, nothing was stored, only
        ``system.errors`` counted NOT_ENOUGH_SPACE): a write failure during the insert
        fails it. One from a concurrent statement (or one since the count was last
        read) fails it too: a retry is harmless (deduplication token), a silent loss is
        not."""
        after = self._write_failures(handle)
        self._note_failures(after)
        if after[0] > before[0]:
            raise EngineError(
                f"Code: 243. DB::Exception: insert not stored: {after[1] or 'write failed'}"
            )

    def close(self) -> None:
        while True:
            try:
                handle = self._idle.get_nowait()
            except queue.Empty:
                return
            handle.conn.close()

    # --- handles -------------------------------------------------------------------
    def _connect(self) -> Any:
        import chdb

        connect: Any = chdb.connect  # untyped
        return connect(str(self.path))

    def _take(self) -> _Handle:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            grow = self._opened < _POOL_SIZE
            if grow:
                self._opened += 1
        return _Handle(self._connect()) if grow else self._idle.get()

    def _fresh(self) -> _Handle:
        return _Handle(self._connect())

    def _release(self, handle: _Handle, throwaway: bool) -> None:
        if throwaway:
            handle.conn.close()
        else:
            self._idle.put(handle)

    def _use(self, handle: _Handle, database: str | None) -> None:
        # No database asked: the default one, as a ClickHouse server does per request.
        database = database or "default"
        if database != handle.database:
            self._run(handle, f"USE `{_name(database)}`")
            handle.database = database

    @staticmethod
    def _run(
        handle: _Handle, sql: str, fmt: str = "TSV", params: Mapping[str, str] | None = None
    ) -> Any:
        try:
            return handle.conn.query(sql, fmt, params=dict(params or {}))
        except RuntimeError as exc:  # chdb's ChdbError is a RuntimeError
            raise EngineError(_engine_message(exc)) from exc


def _name(name: str) -> str:
    if not _SETTING_NAME.match(name):
        raise EngineError(f"Code: 115. DB::Exception: invalid setting name {name[:64]!r}")
    return name


def _quote(value: str) -> str:
    """A setting value as an SQL string literal (ClickHouse converts it to the type)."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _engine_message(exc: BaseException) -> str:
    text = str(exc).strip()
    start = text.find("Code: ")
    return text[start:] if start > 0 else text
