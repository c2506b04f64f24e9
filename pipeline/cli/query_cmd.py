"""``megawatch query NAME [--param k=v ...] [--format table|csv|json]`` and ``query --list``.

Named queries live in ``sql/queries/<name>.sql`` (see :mod:`pipeline.store.named`); they
run on the store (the embedded one through its store server), bounded like every read.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import click

from pipeline.cli.common import echo_frame, format_option, settings_from
from pipeline.errors import QueryError

if TYPE_CHECKING:
    from pipeline.store.named import NamedQuery, QueryParam


def _split_params(pairs: tuple[str, ...]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise QueryError(f"--param {pair!r}: expected NAME=VALUE, e.g. --param since_s=6h")
        values[name.strip()] = value
    return values


@click.command()
@click.argument("name", required=False)
@click.option(
    "--param",
    "-p",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A query parameter (repeatable); durations such as 6h for *_s ones.",
)
@click.option("--list", "list_them", is_flag=True, help="List the named queries and exit.")
@format_option
def query(name: str | None, params: tuple[str, ...], list_them: bool, fmt: str) -> None:
    """Run the named query NAME from sql/queries and print its result.

    \b
    Examples:
      megawatch query --list
      megawatch query fleet_ledger
      megawatch query site_headroom -p site=train-ams-1 -p since_s=6h -p bucket_s=15m
      megawatch query top_racks -p limit=5 --format csv
    """
    from pipeline.store.named import get_query, named_queries, named_query

    if list_them or name is None:
        click.echo(listing(named_queries().values()))
        if name is None and not list_them:
            click.echo("\nrun one with: megawatch query NAME [--param NAME=VALUE ...]")
        return
    from pipeline.analytics.names import check_params
    from pipeline.store.named import query_target

    values = _split_params(params)
    get_query(name).bind(values)  # unknown names and bad values fail before the store opens
    with query_target(settings_from()) as target:
        check_params(target, values)  # a site, region, link... that exists
        frame = named_query(target, name, **values)
    echo_frame(frame, fmt)


def listing(queries: Iterable[NamedQuery]) -> str:
    """Name and description of each query, and its parameters with their defaults."""
    items = list(queries)
    width = max((len(q.name) for q in items), default=0)
    lines = []
    for q in items:
        lines.append(f"{q.name:<{width}}  {q.description}")
        if q.params:
            shown = " ".join(_param_text(p) for p in q.params)
            lines.append(f"{'':<{width}}    params: {shown}")
    return "\n".join(lines)


def _param_text(param: QueryParam) -> str:
    if param.required:
        return f"{param.name} (required)"
    return f"{param.name}={param.default or EMPTY}"


EMPTY = "''"
