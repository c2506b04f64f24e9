"""The names a command's parameters refer to, checked against what exists.

A typo must never read as "all is well": ``megawatch digest --site nosuch`` printing
"nothing to report", or ``megawatch sql ... --param site=ams-1`` printing nothing, says
something false about the fleet. So every site, region, link, power domain, rule and
receiver a command is given is looked up first: sites, regions, links, domains and
receivers in the store (the per-minute rollups, the alerts and deliveries: everything
the store has ever seen within its retention), rules also in the rule registry
(:func:`pipeline.core.rules.registry.registry`). An unknown one fails in one line with
the closest known names (:func:`check_name`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pipeline.errors import QueryError

if TYPE_CHECKING:
    from pipeline.store.client import Store

#: parameter name -> the kind of name it takes
PARAM_KINDS: dict[str, str] = {
    "site": "site",
    "peer_site": "site",
    "region": "region",
    "link": "link",
    "domain": "domain",
    "rule": "rule",
    "receiver": "receiver",
    "link_class": "link class",
}

#: kind -> SQL listing the names the store holds (one column)
_STORED: dict[str, str] = {
    "site": (
        "SELECT DISTINCT name FROM ("
        "SELECT site AS name FROM site_power_1m GROUP BY site"
        " UNION ALL SELECT site FROM rack_power_1m GROUP BY site"
        " UNION ALL SELECT site FROM gpu_1m GROUP BY site"
        " UNION ALL SELECT site FROM link_1m GROUP BY site"
        " UNION ALL SELECT peer_site FROM link_1m GROUP BY peer_site"
        " UNION ALL SELECT site FROM alerts WHERE test = 0 GROUP BY site"
        " UNION ALL SELECT site FROM wave_features GROUP BY site"
        " UNION ALL SELECT scope FROM dr_events GROUP BY scope"
        ") WHERE name != ''"
    ),
    "region": (
        "SELECT DISTINCT region FROM (SELECT region FROM site_power_1m"
        " UNION ALL SELECT region FROM wave_features) WHERE region != ''"
    ),
    "link": "SELECT DISTINCT link FROM link_1m",
    "domain": "SELECT DISTINCT domain FROM domain_power_1m",
    "rule": "SELECT DISTINCT rule FROM alerts",
    "receiver": "SELECT DISTINCT receiver FROM alert_deliveries",
}
CLOSEST = 3  # names suggested
LISTED = 8  # names listed when none is close


def declared_names(kind: str) -> set[str]:
    """Names megawatch itself declares: the rules' alerts, the link classes."""
    if kind == "rule":
        from pipeline.core.rules.registry import registry

        return {alert for rule in registry().rules for alert in rule.alerts}
    if kind == "link class":
        from pipeline.events import LinkClass

        return {link_class.value for link_class in LinkClass}
    return set()


def known_names(store: Store, kind: str) -> set[str]:
    """Every name of ``kind`` the store holds, with those megawatch declares."""
    names = declared_names(kind)
    sql = _STORED.get(kind)
    if sql is not None:
        names |= {str(row[0]) for row in store.query_rows(sql)}
    return names


def check_name(kind: str, value: str, known: Iterable[str], where: str = "") -> None:
    """Nothing when ``value`` is known (or empty: "all"); else QueryError with the closest
    known names."""
    names = sorted(set(known))
    if not value or value in names:
        return
    label = f"{where}: " if where else ""
    plural = f"{kind}es" if kind.endswith("s") else f"{kind}s"
    if not names:
        raise QueryError(f"{label}unknown {kind} {value!r}: the store holds no {plural} yet")
    close = difflib.get_close_matches(value, names, n=CLOSEST, cutoff=0.5)
    if close:
        hint = f"did you mean {_either(close)}?"
    else:
        shown = ", ".join(names[:LISTED]) + (", ..." if len(names) > LISTED else "")
        hint = f"known: {shown}"
    raise QueryError(f"{label}unknown {kind} {value!r}: {hint} ({len(names)} {plural} known)")


def check_params(store: Store, params: Mapping[str, Any]) -> None:
    """Check every ``--param`` whose name says what it names (``site``, ``region``,
    ``link``, ...; see :data:`PARAM_KINDS`) against the names that exist."""
    cache: dict[str, set[str]] = {}
    for name, value in params.items():
        kind = PARAM_KINDS.get(name)
        if kind is None or value is None or str(value) == "":
            continue
        if kind not in cache:
            cache[kind] = known_names(store, kind)
        check_name(kind, str(value), cache[kind], f"--param {name}")


def _either(names: list[str]) -> str:
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + f" or {names[-1]}"
