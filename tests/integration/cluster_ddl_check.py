"""Run megawatch's DDL on one chDB engine, in its own process: ``python cluster_ddl_check.py
DIR FILE`` reads statements (separated by NUL) from FILE and runs them in the current
database of an engine at DIR, printing ``ok N`` or the first error.

It runs under the main virtualenv (chDB 4.x, ClickHouse 26.x) or under the chDB 2.1.1
one (ClickHouse 24.8, the oldest server megawatch supports), whose API is older: hence
plain ``chdb`` calls and no megawatch import. With ``--cluster-config XML`` the engine
gets an in-process Keeper (``testkeeper``), shard/replica macros and a one-node cluster,
so that Replicated and Distributed tables can be created; inserts into Replicated
tables hang in chDB (it runs no replication threads), so only DDL is checked, and the
process leaves with ``os._exit`` (the engine's shutdown hangs on that Keeper).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def connect(path: str, config: str | None):  # type: ignore[no-untyped-def]
    import chdb

    if hasattr(chdb, "connect") and not chdb.__version__.startswith("2."):
        url = f"file:{path}" + (f"?config-file={config}" if config else "")
        conn = chdb.connect(url)
        return lambda sql: conn.query(sql, "CSV")
    from chdb.session import Session

    # chDB 2.x runs each query as its own clickhouse-local call, in a default database
    # that does not persist: one of our own, named before every statement
    session = Session(path)
    session.query("CREATE DATABASE IF NOT EXISTS megawatch ENGINE = Atomic", "CSV")
    return lambda sql: session.query(f"USE megawatch; {sql}", "CSV")


def main() -> None:
    args = sys.argv[1:]
    config = None
    if args[0] == "--cluster-config":
        config, args = args[1], args[2:]
    path, statements_file = args
    query = connect(path, config)
    statements = [s for s in Path(statements_file).read_text("utf-8").split("\0") if s]
    for number, statement in enumerate(statements, start=1):
        try:
            query(statement)
        except Exception as exc:  # report the engine's message, whatever its class
            print(
                f"error {number}: {str(exc).splitlines()[0][:400]}\n{statement[:300]}", flush=True
            )
            os._exit(1)
    print(f"ok {len(statements)} {query('SELECT version()')}".strip(), flush=True)
    os._exit(0)


if __name__ == "__main__":
    main()
