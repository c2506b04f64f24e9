"""Named queries: ``sql/queries/<name>.sql``, run by name with typed parameters.

A file starts with a header of comment lines::

    -- description: Fleet MW ledger: power now, peak, cap and headroom per site ...
    -- param: site String ''
    -- param: since_s UInt32 86400
    -- param: until DateTime64(3,'UTC') now

``-- param: NAME TYPE [DEFAULT]`` declares a ClickHouse query parameter that the SQL uses
as ``{NAME:TYPE}`` (the same type text, without spaces); without a default the parameter
is required. Values are bound by ClickHouse, never formatted into the SQL. Text values
(from ``--param k=v``) are checked and converted here, so that a typo is a one-line
:class:`~pipeline.errors.QueryError` naming the parameter rather than a ClickHouse trace:

* integer types: a whole number; parameters named ``*_s`` (seconds) also take durations
  such as ``90s``, ``15m``, ``24h``, ``7d``;
* ``DateTime64``: an ISO-8601 time (UTC unless it has an offset), or ``now``;
* ``Float*``: a number; ``String``: any text (quote a default: ``''``, ``'wan'``).

The files ship inside the package (``pipeline/_sql`` is the repository's ``sql/``).
"""

from __future__ import annotations

import contextlib
import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib.abc import Traversable
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.errors import QueryError, StoreError

if TYPE_CHECKING:
    import pandas as pd

    from pipeline.settings import Settings
    from pipeline.store.client import Store

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_DESCRIPTION = re.compile(r"^--\s*description:\s*(.+?)\s*$")
_PARAM = re.compile(r"^--\s*param:\s*(\w+)\s+(\S+)(?:\s+(.+?))?\s*$")
_PLACEHOLDER = re.compile(r"\{(\w+):([^}]+)\}")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_INT_RANGES = {
    f"{sign}Int{bits}": (
        (0, 2**bits - 1) if sign == "U" else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    )
    for sign in ("U", "")
    for bits in (8, 16, 32, 64)
}


@dataclass(frozen=True)
class QueryParam:
    name: str
    type: str  # the ClickHouse type, as written in the SQL
    default: str | None  # text form; None: required

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class NamedQuery:
    """One ``sql/queries/<name>.sql`` file."""

    name: str
    description: str
    params: tuple[QueryParam, ...]
    sql: str = field(repr=False)

    def param(self, name: str) -> QueryParam | None:
        return next((p for p in self.params if p.name == name), None)

    def bind(self, values: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
        """Checked parameter values (defaults filled in), ready for ClickHouse binding.

        Values may be text (from the command line) or Python values; times become
        ``YYYY-MM-DD hh:mm:ss.fff`` UTC text, so the result is JSON-serializable.
        """
        unknown = sorted(set(values) - {p.name for p in self.params})
        if unknown:
            known = ", ".join(p.name for p in self.params) or "none"
            raise QueryError(
                f"query {self.name}: unknown parameter {unknown[0]!r} (parameters: {known})"
            )
        bound = {}
        for param in self.params:
            if param.name in values and values[param.name] is not None:
                raw = values[param.name]
            elif param.default is not None:
                raw = param.default
            else:
                raise QueryError(
                    f"query {self.name}: parameter {param.name!r} is required "
                    f"(--param {param.name}=VALUE, a {param.type})"
                )
            bound[param.name] = convert(self.name, param, raw, now or datetime.now(UTC))
        return bound


def convert(query: str, param: QueryParam, raw: Any, now: datetime) -> Any:
    """One value checked against the parameter's type, or a QueryError naming it."""
    kind = param.type.split("(")[0]
    try:
        if kind in _INT_RANGES:
            return _integer(param, raw, _INT_RANGES[kind])
        if kind.startswith("Float"):
            return float(raw)
        if kind.startswith("DateTime"):
            return _timestamp(raw, now)
        if kind == "String":
            return str(raw)
    except (ValueError, TypeError) as exc:
        raise QueryError(
            f"query {query}: parameter {param.name}={raw!s} is not a valid {param.type} ({exc})"
        ) from None
    raise QueryError(f"query {query}: parameter {param.name} has unsupported type {param.type}")


def _integer(param: QueryParam, raw: Any, bounds: tuple[int, int]) -> int:
    if isinstance(raw, bool):
        raise ValueError("expected a whole number")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, float) and raw.is_integer():
        value = int(raw)
    else:
        text = str(raw)
        match = _DURATION.match(text) if param.name.endswith("_s") else None
        if match:
            value = int(match.group(1)) * _UNITS[match.group(2)]
        elif re.fullmatch(r"\s*-?\d+\s*", text):
            value = int(text)
        else:
            hint = " or a duration such as 15m, 24h, 7d" if param.name.endswith("_s") else ""
            raise ValueError(f"expected a whole number{hint}")
    if not bounds[0] <= value <= bounds[1]:
        raise ValueError(f"out of range {bounds[0]}..{bounds[1]}")
    return value


def _timestamp(raw: Any, now: datetime) -> str:
    if isinstance(raw, datetime):
        when = raw
    elif str(raw).strip().lower() == "now":
        when = now
    else:
        try:
            when = datetime.fromisoformat(str(raw).strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                "expected an ISO-8601 time such as 2026-11-20T08:00:00Z, or now"
            ) from None
    if when.tzinfo is None:  # documented: naive times are UTC
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


# --- loading ---------------------------------------------------------------------------
def bundled_queries() -> Traversable:
    return files("pipeline").joinpath("_sql", "queries")


def parse_query(name: str, text: str) -> NamedQuery:
    """A query file's header and SQL; a malformed file is a QueryError naming it."""
    where = f"query file {name}.sql"
    if not _NAME.match(name):
        raise QueryError(f"{where}: name must be lowercase letters, digits and _")
    header = [line.strip() for line in text.splitlines()]
    description = next((m.group(1) for line in header if (m := _DESCRIPTION.match(line))), None)
    if description is None or not header or not _DESCRIPTION.match(header[0]):
        raise QueryError(f"{where}: must start with a '-- description: ...' line")
    params = []
    for line in header:
        match = _PARAM.match(line)
        if match:
            pname, ptype, default = match.groups()
            params.append(QueryParam(pname, ptype, _unquote(default)))
    _check_placeholders(where, text, params)
    sql = text.strip().rstrip(";").rstrip()
    return NamedQuery(name, description, tuple(params), sql)


def _unquote(default: str | None) -> str | None:
    if default is not None and len(default) >= 2 and default[0] == default[-1] == "'":
        return default[1:-1]
    return default


def _check_placeholders(where: str, text: str, params: list[QueryParam]) -> None:
    """Every ``{name:Type}`` is declared with that type, and every declared one is used."""
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    used = {(n, t) for n, t in _PLACEHOLDER.findall(body)}
    declared = {p.name: p.type for p in params}
    for pname, ptype in sorted(used):
        if declared.get(pname) != ptype:
            raise QueryError(
                f"{where}: {{{pname}:{ptype}}} is not declared as '-- param: {pname} {ptype}'"
            )
    unused = sorted(set(declared) - {n for n, _ in used})
    if unused:
        raise QueryError(f"{where}: parameter {unused[0]} is declared but not used")


def load_queries(directory: Traversable | Path | None = None) -> dict[str, NamedQuery]:
    """Every named query of ``directory`` (default: the bundled ones), by name."""
    folder = directory if directory is not None else bundled_queries()
    if not folder.is_dir():
        raise QueryError(
            f"named queries directory {folder} not found (is megawatch installed "
            "with its sql/ files?)"
        )
    found = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            query = parse_query(entry.name.removesuffix(".sql"), entry.read_text("utf-8"))
            found[query.name] = query
    return dict(sorted(found.items()))


@cache
def _bundled() -> dict[str, NamedQuery]:
    return load_queries()


def named_queries() -> dict[str, NamedQuery]:
    """The bundled named queries, by name (read once per process)."""
    return dict(_bundled())


def get_query(name: str) -> NamedQuery:
    queries = _bundled()
    if name not in queries:
        close = difflib.get_close_matches(name, list(queries), n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(close)}?" if close else f"known: {', '.join(queries)}"
        raise QueryError(f"unknown named query {name!r}: {hint} (see `megawatch query --list`)")
    return queries[name]


# --- running ---------------------------------------------------------------------------
def named_query(target: Store | Settings, name: str, /, **params: Any) -> pd.DataFrame:
    """Run the named query ``name`` and return its result as a DataFrame.

    ``target`` is an open :class:`~pipeline.store.Store`, or the settings: then the store
    is opened for this query (bounded, like every CLI read). Parameters are keyword
    arguments (text or Python values); unknown, missing or malformed ones raise
    :class:`QueryError`.
    """
    from pipeline.settings import Settings
    from pipeline.store.reader import read_query, store_hint, with_header

    query = get_query(name)
    bound = query.bind(params)
    if isinstance(target, Settings):
        return read_query(target, query.sql, bound)
    try:
        return with_header(target, target.query_df(query.sql, bound), query.sql, bound)
    except StoreError as exc:
        raise StoreError(f"query {name}: {store_hint(str(exc))}") from exc


@contextlib.contextmanager
def query_target(settings: Settings) -> Iterator[Store]:
    """The store, opened once for several named queries (it must exist: a read does not
    create it)."""
    from pipeline.store.client import open_store
    from pipeline.store.reader import require_store

    require_store(settings)
    with open_store(settings) as store:
        yield store
