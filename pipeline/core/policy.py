"""Rule parameters: the worker's values (:class:`RuleConfig`) and one site's
(:class:`SitePolicy`).

Every parameter is declared once, in the rule registry (:mod:`pipeline.core.rules`):
its name, default and bounds. A :class:`RuleConfig` holds the worker's value of each (its
setting, else the default); a :class:`SitePolicy` is what one evaluation of a site needs:
those values with the site spec's own overriding them, and the site's cap. Both are
read as ``policy[PARAM]``. A site without a spec gets a policy with no cap: its power is
stored and shown, never alerted. :class:`CapLimits` is the cap of one thing that has one:
the site, or a power domain of it; the cap rules take it, so they run the same at every
level.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pipeline.core.rules.common import FORGET_AFTER, STALE_AFTER, STALE_HOLD
from pipeline.core.rules.registry import Number, Param, SpecField, Value, registry
from pipeline.events import PowerDomain, SiteSpec

Derived = TypeVar("Derived")


class RuleConfig:
    """The worker's value of every rule parameter, by name, in the parameter's unit:
    ``RuleConfig(cap_for_s=2)``; a parameter not given has its declared default."""

    __slots__ = ("values",)

    def __init__(self, **values: float) -> None:
        declared = {param.name: param.default for param in registry().params}
        unknown = sorted(set(values) - set(declared))
        if unknown:
            raise ValueError(f"unknown rule parameter: {', '.join(unknown)}")
        structured = {f.name: f.default for f in registry().fields}
        self.values: Mapping[str, Any] = structured | declared | values

    def __getitem__(self, param: Param[Number]) -> Number:
        return self.values[param.name]  # type: ignore[no-any-return]

    def ms(self, param: Param[Any]) -> int:
        """A parameter in seconds, as integer milliseconds."""
        return int(self.values[param.name] * 1000)


@dataclass(frozen=True, slots=True)
class CapLimits:
    """The cap of a site or of one of its power domains, as the cap rules see it."""

    site: str
    domain: str | None
    cap_w: float | None
    warn_w: float | None
    warn_ratio: float | None

    @property
    def label(self) -> str:
        """How alert texts name it: ``site atl-2`` or ``domain hall-1 of atl-2``."""
        return f"domain {self.domain} of {self.site}" if self.domain else f"site {self.site}"


@dataclass(frozen=True, slots=True)
class SitePolicy:
    """One site's rule parameters (``values``: the worker's, with the spec's own over
    them) and its cap, power tree, expected racks and shards, from its spec."""

    site: str
    values: Mapping[str, Any]
    cap_w: float | None = None
    warn_ratio: float | None = None
    region: str = ""
    racks_expected: int = 0
    domains: tuple[PowerDomain, ...] | None = None
    shards_expected: int = 0  # a site spread over shards (SITE/SHARD keys): how many
    # the staleness windows in ms: every message and tick classifies racks by them
    stale_after_ms: int = field(init=False)
    stale_hold_ms: int = field(init=False)
    forget_after_ms: int = field(init=False)
    _derived: dict[Callable[[SitePolicy], Any], Any] = field(
        init=False, default_factory=dict, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        for name, param in (
            ("stale_after_ms", STALE_AFTER),
            ("stale_hold_ms", STALE_HOLD),
            ("forget_after_ms", FORGET_AFTER),
        ):
            object.__setattr__(self, name, self.ms(param))

    @classmethod
    def of(cls, site: str, spec: SiteSpec | None, config: RuleConfig) -> SitePolicy:
        if spec is None:
            return cls(site, config.values)
        values = dict(config.values)
        for param in registry().spec_params:
            own = param.spec_value(spec)
            if own is not None:
                values[param.name] = own
        for structured in registry().fields:
            value = getattr(spec, structured.name, None)
            if value is not None:
                values[structured.name] = value
        return cls(
            site,
            values,
            spec.cap_mw * 1e6,
            spec.warn_ratio,
            spec.region or "",
            spec.racks_expected or 0,
            spec.domains or None,
            spec.shards_expected or 0,
        )

    def __getitem__(self, param: Param[Number]) -> Number:
        return self.values[param.name]  # type: ignore[no-any-return]

    def ms(self, param: Param[Any]) -> int:
        """A parameter in seconds, as integer milliseconds."""
        return int(self.values[param.name] * 1000)

    def spec_field(self, spec_field: SpecField[Value]) -> Value:
        """A structured site-spec field's value: the spec's, else its default."""
        return self.values[spec_field.name]  # type: ignore[no-any-return]

    def derived(self, make: Callable[[SitePolicy], Derived]) -> Derived:
        """``make(self)``, made once per policy: a rule's parameters in the form it
        evaluates with (milliseconds, Timing objects), one lookup per evaluation. A
        policy lives until its site's spec changes."""
        try:
            value: Derived = self._derived[make]
        except KeyError:
            value = self._derived[make] = make(self)
        return value

    @property
    def warn_w(self) -> float | None:
        if self.cap_w is None or self.warn_ratio is None:
            return None
        return self.cap_w * self.warn_ratio

    @property
    def limits(self) -> CapLimits:
        return CapLimits(self.site, None, self.cap_w, self.warn_w, self.warn_ratio)
