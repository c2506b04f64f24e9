"""Runs in the ClickHouse 24.8 venv (chDB 2.1.1, ``.venv-ch248``), never in megawatch's.

Reads a JSON job on stdin: migration statements, inserts and queries, all plain SQL
prepared by the test in megawatch's own venv; runs them on a fresh chDB 2.1.1 session
(ClickHouse 24.8.4.1, the oldest supported server) and prints one JSON result. chDB 2.1.1
has no query parameters, so each query is run after ``SET param_<name>`` statements
in the same call (the server-side parameter mechanism of ClickHouse).
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
    print(json.dumps(out))


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
