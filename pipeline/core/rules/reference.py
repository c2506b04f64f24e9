"""The docs tables of the rules and their parameters, rendered from the registry.

docs/configuration.md and docs/alerts.md hold these tables between ``<!-- BEGIN
GENERATED: name -->`` and ``<!-- END GENERATED: name -->`` lines; the rest of each page
is written by hand. tests/unit/test_rule_reference.py fails when a page differs from
:func:`with_tables` of it (and rewrites it with ``UPDATE_RULE_DOCS=1``).

* ``rule-parameters``: one table per declaration (the shared parameters, then each
  rule): variable, default, unit, bounds, site-spec field, meaning;
* ``spec-overrides``: the site-spec fields that override a setting for one site, then
  the structured fields a rule reads from the spec alone (no setting);
* ``rules``: each rule, the alerts it emits, what it reads and its parameters.

``prefix`` is the settings' variable prefix (``MEGAWATCH_``), passed in: the core does
not import the settings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from pipeline.core.rules.registry import Param, Registry, registry

_HEAD = "| variable | default | unit | bounds | site spec | meaning |\n|---|---|---|---|---|---|"
_SHARED = (
    "Shared: the staleness windows, coverage and margins that several rules (and the state "
    "the site monitor keeps) read."
)


def number(value: float) -> str:
    """A default as the docs show it: ``15``, ``0.02``, ``86400``; ratios under 0.001 as
    ``1e-6``, ``2.5e-4``."""
    if value == 0 or abs(value) >= 1e-3:
        return f"{value:g}"
    mantissa, exponent = f"{value:e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def bounds_text(param: Param[Any]) -> str:
    signs = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))
    parts = [f"{sign} {number(param.bounds[key])}" for key, sign in signs if key in param.bounds]
    return ", ".join(parts)


def _row(param: Param[Any], prefix: str) -> str:
    spec = f"`{param.spec}`" if param.spec else ""
    cells = [
        f"`{prefix}{param.name.upper()}`",
        number(param.default),
        param.unit,
        bounds_text(param),
        spec,
        param.doc,
    ]
    return "| " + " | ".join(cells) + " |"


def _table(params: Iterable[Param[Any]], prefix: str) -> str:
    return "\n".join([_HEAD, *(_row(p, prefix) for p in params)])


def parameter_tables(prefix: str, rules: Registry | None = None) -> str:
    """Every parameter, once: the shared ones, then each rule's, one table each."""
    rules = rules or registry()
    parts = [_SHARED, "", _table(rules.shared, prefix)]
    for rule in rules.rules:
        if not rule.params:
            continue
        alerts = ", ".join(f"`{a}`" for a in rule.alerts)
        parts += ["", f"`{rule.name}` ({alerts}): {rule.doc}.", "", _table(rule.params, prefix)]
    return "\n".join(parts)


def spec_table(prefix: str, rules: Registry | None = None) -> str:
    """The site-spec fields that override a setting for one site, and the structured
    fields of the spec alone."""
    rules = rules or registry()
    rows = [
        "| site spec field | overrides | bounds |",
        "|---|---|---|",
        *(
            f"| `{p.spec}` | `{prefix}{p.name.upper()}` | {bounds_text(p)} |"
            for p in rules.spec_params
        ),
    ]
    if rules.fields:
        rows += [
            "",
            "Structured fields, set in the site spec only (there is no setting: unset, none):",
            "",
            "| site spec field | form | meaning |",
            "|---|---|---|",
            *(f"| `{f.name}` | `{f.shape}` | {f.doc} |" for f in rules.fields),
        ]
    return "\n".join(rows)


def rules_table(rules: Registry | None = None) -> str:
    """Each rule: its alerts, what it reads (its scope) and its parameters."""
    rows = ["| rule | alerts | reads | parameters |", "|---|---|---|---|"]
    for rule in (rules or registry()).rules:
        alerts = ", ".join(f"`{a}`" for a in rule.alerts)
        names = [p.name for p in rule.params] + [f.name for f in rule.fields]
        params = ", ".join(f"`{name}`" for name in names) or "none of its own"
        rows.append(f"| {rule.name} | {alerts} | {rule.scope.reads} | {params} |")
    return "\n".join(rows)


def blocks(prefix: str) -> dict[str, str]:
    """Generated block name -> its text."""
    return {
        "rule-parameters": parameter_tables(prefix),
        "spec-overrides": spec_table(prefix),
        "rules": rules_table(),
    }


_BLOCK = re.compile(
    r"(<!-- BEGIN GENERATED: (?P<name>[a-z-]+) [^>]*-->\n)"
    r"(?P<body>.*?)"
    r"(<!-- END GENERATED: (?P=name) -->)",
    re.DOTALL,
)


def with_tables(page: str, render: Callable[[str], str | None]) -> str:
    """``page`` with each generated block's body replaced by ``render(name)`` (a block
    ``render`` knows nothing of is left as it is)."""

    def replace(match: re.Match[str]) -> str:
        body = render(match["name"])
        if body is None:
            return match[0]
        return f"{match[1]}{body}\n{match[4]}"

    return _BLOCK.sub(replace, page)
