"""The rule registry: every alert rule, and every parameter the rules read, declared once.

A module of :mod:`pipeline.core.rules` declares ``RULES`` (its :class:`Rule` objects) and
may declare ``PARAMS`` (parameters that several rules or the site monitor read:
:mod:`pipeline.core.rules.common`). :func:`registry` finds them in every module of the
package, so a new rule is one new module; everything else reads them from there:

* settings: each :class:`Param` is the setting ``MEGAWATCH_<NAME>``, with its default,
  bounds and meaning (:func:`pipeline.core.rules.fields.setting_fields`);
* site specs: a parameter with ``spec`` is a :class:`pipeline.events.SiteSpec` field that
  overrides it for one site (:func:`pipeline.core.rules.fields.spec_fields`); a
  :class:`SpecField` is a structured site-spec field of a rule's own (a list of limits,
  which no flat setting could hold), with its pydantic annotation and its value when
  unset;
* values: :class:`pipeline.core.policy.RuleConfig` (the worker's) and
  :class:`pipeline.core.policy.SitePolicy` (one site's), read as ``policy[PARAM]``;
* evaluation: :class:`pipeline.core.site.SiteMonitor` runs the rules of each scope
  (:mod:`pipeline.core.rules.scopes`);
* docs: :mod:`pipeline.core.rules.reference` renders the tables of docs/configuration.md.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any, Generic, TypeVar

from pipeline.core.rules.scopes import Scope

Number = TypeVar("Number", int, float)
Evaluate = TypeVar("Evaluate")
Value = TypeVar("Value")


@dataclass(frozen=True, eq=False, slots=True)
class Param(Generic[Number]):
    """One parameter: the setting ``MEGAWATCH_<NAME>`` and, with ``spec``, a site-spec
    field. ``spec`` is a field name, or ``object.key`` for a key of an object field
    (``loss_warn.fabric``). Values are in ``unit`` (seconds for ``s``). ``at_most`` names
    a parameter this one must not exceed (a warning level and its critical one): a
    setting, or a spec, that sets it above is refused."""

    name: str
    default: Number
    doc: str  # one line: what it means, as the docs tables show it
    unit: str  # "s", "ratio", "packets"
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    spec: str | None = None
    at_most: str | None = None

    @property
    def kind(self) -> type[Number]:
        return type(self.default)

    @property
    def bounds(self) -> dict[str, Any]:
        """The bounds that are set, as pydantic's Field takes them (gt=0, le=3600)."""
        pairs = (("gt", self.gt), ("ge", self.ge), ("lt", self.lt), ("le", self.le))
        return {name: value for name, value in pairs if value is not None}

    def spec_value(self, spec: object) -> Number | None:
        """The site's own value in ``spec`` (a SiteSpec), or None where it sets none."""
        if self.spec is None:
            return None
        value: Any = spec
        for part in self.spec.split("."):
            value = getattr(value, part, None)
            if value is None:
                return None
        return value  # type: ignore[no-any-return]


@dataclass(frozen=True, eq=False, slots=True)
class SpecField(Generic[Value]):
    """A structured site-spec field a rule reads (``oscillation_limits: [{band_hz: [lo,
    hi], max_mw}]``): checked by ``annotation`` (a pydantic type), read as
    ``policy.field(FIELD)``; ``default`` where a spec sets none. It has no setting: a
    list of limits is a site's own, there is no fleet-wide value to fall back on."""

    name: str
    annotation: Any  # the pydantic type of the field's value
    default: Value
    doc: str  # one line, for the docs tables
    shape: str  # how it is written, for the docs: ``[{band_hz: [lo, hi], max_mw}]``


@dataclass(frozen=True, eq=False, slots=True)
class Rule(Generic[Evaluate]):
    """One rule: the alerts it emits, what it reads (``scope``: its subject and when it
    runs), the function that steps its alerts, and the parameters it declares."""

    name: str
    alerts: tuple[str, ...]  # the ``rule`` of the Alert events it emits
    scope: Scope[Evaluate]
    evaluate: Evaluate
    doc: str  # one line, for the docs tables
    params: tuple[Param[Any], ...] = ()
    fields: tuple[SpecField[Any], ...] = ()  # structured site-spec fields it reads


@dataclass(frozen=True, slots=True)
class Registry:
    """What the modules of :mod:`pipeline.core.rules` declare, checked."""

    rules: tuple[Rule[Any], ...]
    shared: tuple[Param[Any], ...]  # PARAMS: read by several rules or the monitor

    @property
    def params(self) -> tuple[Param[Any], ...]:
        """Every parameter: the shared ones, then each rule's, in module order."""
        return self.shared + tuple(p for rule in self.rules for p in rule.params)

    @property
    def spec_params(self) -> tuple[Param[Any], ...]:
        return tuple(p for p in self.params if p.spec is not None)

    @property
    def fields(self) -> tuple[SpecField[Any], ...]:
        """Every structured site-spec field, in module order."""
        return tuple(f for rule in self.rules for f in rule.fields)

    @property
    def ordered(self) -> tuple[tuple[Param[Any], Param[Any]], ...]:
        """(low, high) pairs: ``low`` declares ``at_most=high``."""
        by_name = {p.name: p for p in self.params}
        return tuple((p, by_name[p.at_most]) for p in self.params if p.at_most is not None)

    def rules_of(self, scope: Scope[Evaluate]) -> tuple[Evaluate, ...]:
        """The evaluate functions of the rules of ``scope``, in module order."""
        return tuple(rule.evaluate for rule in self.rules if rule.scope is scope)

    def check(self) -> Registry:
        """Itself, or ValueError naming a name declared twice."""
        _unique("rule", [rule.name for rule in self.rules])
        _unique("alert", [alert for rule in self.rules for alert in rule.alerts])
        _unique("rule parameter", [p.name for p in self.params])
        _unique(
            "site-spec field", [p.spec for p in self.spec_params] + [f.name for f in self.fields]
        )
        names = {p.name for p in self.params}
        for p in self.params:
            if p.at_most is not None and p.at_most not in names:
                raise ValueError(f"rule parameter {p.name}: at_most names no parameter {p.at_most}")
        return self


def _unique(what: str, names: Iterable[str | None]) -> None:
    seen: set[str | None] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{what} {name} is declared twice in pipeline.core.rules")
        seen.add(name)


@cache
def registry() -> Registry:
    """Every module of this package, imported once, in name order (so the rules of a
    scope run in that order); their ``RULES`` and ``PARAMS``."""
    package = importlib.import_module(__package__ or "pipeline.core.rules")
    rules: list[Rule[Any]] = []
    shared: list[Param[Any]] = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        rules += getattr(module, "RULES", ())
        shared += getattr(module, "PARAMS", ())
    return Registry(tuple(rules), tuple(shared)).check()
