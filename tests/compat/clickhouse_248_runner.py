"""Runs in the ClickHouse 24.8 venv (chDB 2.1.1, ``.venv-ch248``), never in megawatch's.

Reads a JSON job on stdin: migration statements, inserts and queries, all plain SQL
prepared by the test in megawatch's own venv; runs them on a fresh chDB 2.1.1 session
(ClickHouse 24.8.4.1, the oldest supported server) and prints one JSON result. chDB 2.1.1
has no query parameters, so each query is run after ``SET param_<name>`` statements
in the same call (the server-side parameter mechanism of ClickHouse). For the SQL guard,
``explains`` are statements a user might type: each comes back as this server's
``formatQuery`` text and ``EXPLAIN AST`` lines (with the ``FORMAT Native`` that
clickhouse-connect appends), for the test to check in megawatch's venv.
"""

import json
import sys
import tempfile

from chdb import session as chs


def main() -> None:
    job = json.load(sys.stdin)
    session = chs.Session(tempfile.mkdtemp(prefix="mw-ch248-"))
    session.query("CREATE DATABASE IF NOT EXISTS megawatch")
    session.query("USE megawatch")
    out = {"version": session.query("SELECT version()", "CSV").bytes().decode().strip('"\n')}
    out["migrations"] = _run_all(session, job["migrations"])
    out["inserts"] = _run_all(session, job["inserts"])
    out["counts"] = {
        name: session.query(sql, "JSONCompact").bytes().decode() for name, sql in job["counts"]
    }
    out["queries"] = {}
    for name, params, sql in job["queries"]:
        # SET does not outlive one call on a 2.1.1 session: bind in the same call.
        binds = "".join(f"SET param_{key} = {_quote(value)}; " for key, value in params.items())
        out["queries"][name] = _run_all(session, [[name, binds + sql]])
    out["reads"] = _run_all(session, job.get("reads", []))
    out["explains"] = {
        statement: _explain(session, statement) for statement in job.get("explains", [])
    }
    print(json.dumps(out))


def _explain(session: chs.Session, statement: str) -> object:
    """[canonical text, EXPLAIN AST lines] of ``statement``, or its error as a string."""
    try:
        formatted = session.query(f"SELECT formatQuery({_quote(statement)})", "JSONCompact")
        canonical = json.loads(formatted.bytes())["data"][0][0]
        tree = session.query(f"EXPLAIN AST {canonical} FORMAT Native", "JSONCompact")
        return [canonical, [row[0] for row in json.loads(tree.bytes())["data"]]]
    except Exception as exc:
        return str(exc)[:400]


def _run_all(session: chs.Session, labelled: list[list[str]]) -> list[str]:
    errors = []
    for label, sql in labelled:
        try:
            session.query(sql, "CSV")
        except Exception as exc:  # one line per failing statement, for the assertion
            errors.append(f"{label}: {str(exc)[:400]}")
    return errors


def _quote(value: object) -> str:
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


if __name__ == "__main__":
    main()
