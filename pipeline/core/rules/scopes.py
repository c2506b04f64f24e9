"""What a rule reads, and when it runs: its scope.

:class:`pipeline.core.site.SiteMonitor` keeps one list of rules per scope (from
:func:`pipeline.core.rules.registry.registry`) and calls each with the subject of the
scope. Every rule of a scope has the same signature, ``evaluate(book, subject, now_ms,
policy) -> list[Alert]``, typed by the scope's protocol:

* :data:`POWER`: a site's or power domain's draw, cap and power trend
  (:class:`PowerSubject`); per message for the site, per tick for the site and domains;
* :data:`LINK_SAMPLES`: the links that reported in a message (:class:`Links`), once per
  message (a rule loops over them itself: thousands of links a message);
* :data:`LINK_HEALTH`: the links whose samples in a message carried link-health fields
  (:class:`Links`; their :class:`pipeline.core.link_health.LinkHealth` is set), once per
  message;
* :data:`LINK_TICK`: every known link of the site (:class:`Links`), once per tick;
* :data:`RACK_GPUS`: every rack's GPU statistics (:class:`GpuRacks`), once per tick;
* :data:`DOMAIN_PRIORITIES`: every power domain's fresh GPUs per priority class, capped
  or not (:class:`pipeline.core.energy.priorities.DomainPriorities`), once per tick on
  each key's monitor (:meth:`pipeline.core.site.SiteMonitor.evaluate_priorities`, through
  :meth:`pipeline.core.energy.book.EnergyBook.evaluate`): a shard judges its own GPUs.

The batched scopes hand a rule all its subjects at once, so that it reads its
parameters once and costs one call per message or tick, not one per link or rack.

No rule runs while a site warms up (one staleness window after the worker first sees it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from typing import TypeAlias

    from pipeline.core.alert_book import AlertBook
    from pipeline.core.energy.priorities import DomainPriorities
    from pipeline.core.forecast import PowerTrend
    from pipeline.core.gpu import RackGpuStats
    from pipeline.core.links import LinkState
    from pipeline.core.policy import CapLimits, SitePolicy
    from pipeline.core.power import Draw
    from pipeline.events import Alert, LinkClass

    #: a known link of a site: its window, class and peer site
    LinkEntry: TypeAlias = tuple[LinkState, LinkClass, str | None]

Evaluate = TypeVar("Evaluate")


@dataclass(frozen=True, eq=False, slots=True)
class Scope(Generic[Evaluate]):
    """A scope; ``Evaluate`` is the protocol its rules' functions satisfy."""

    name: str
    reads: str  # what its rules read and when they run, for the docs tables


@dataclass(frozen=True, slots=True)
class PowerSubject:
    """A site, or one of its power domains, as the power rules read it."""

    draw: Draw
    limits: CapLimits
    trend: PowerTrend


@dataclass(frozen=True, slots=True)
class Links:
    """Links to judge (``names``, in order) and every known link of the site."""

    names: Iterable[str]
    known: Mapping[str, LinkEntry]


@dataclass(frozen=True, slots=True)
class GpuRacks:
    """(rack, statistics of its GPUs over the staleness window), for every rack."""

    stats: Sequence[tuple[str, RackGpuStats]]


class PowerRule(Protocol):
    def __call__(
        self, book: AlertBook, subject: PowerSubject, now_ms: int, policy: SitePolicy, /
    ) -> list[Alert]: ...


class LinksRule(Protocol):
    def __call__(
        self, book: AlertBook, subject: Links, now_ms: int, policy: SitePolicy, /
    ) -> list[Alert]: ...


class GpuRule(Protocol):
    def __call__(
        self, book: AlertBook, subject: GpuRacks, now_ms: int, policy: SitePolicy, /
    ) -> list[Alert]: ...


class PrioritiesRule(Protocol):
    def __call__(
        self, book: AlertBook, subject: DomainPriorities, now_ms: int, policy: SitePolicy, /
    ) -> list[Alert]: ...


POWER: Scope[PowerRule] = Scope(
    "power", "a site's or power domain's draw, cap and trend; per message and per tick"
)
LINK_SAMPLES: Scope[LinksRule] = Scope(
    "link samples", "the links that reported, after their samples; per message"
)
LINK_HEALTH: Scope[LinksRule] = Scope(
    "link health", "the links that reported link-health fields, after their samples; per message"
)
LINK_TICK: Scope[LinksRule] = Scope("link tick", "every known link of the site; per tick")
RACK_GPUS: Scope[GpuRule] = Scope(
    "rack GPUs", "every rack's GPU utilization and power over the window; per tick"
)
DOMAIN_PRIORITIES: Scope[PrioritiesRule] = Scope(
    "domain priorities",
    "every power domain's fresh GPUs per priority class, capped or not; per tick",
)
