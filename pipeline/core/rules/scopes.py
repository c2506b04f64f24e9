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
* :data:`WAVE`: one stride of a site's waveform (:class:`WaveSubject`: its features,
  load drops, domains and bands), at the site stage of ``telemetry.power_wave``
  (:class:`pipeline.core.wave.stage.WaveStage`), once per stride of event time;
* :data:`REGION_DROPS`: a region's load drops grouped into incidents
  (:class:`RegionDrops`), on the worker that owns the region, once per tick;
* :data:`DEMAND_RESPONSE`: a demand-response event's live tracking (:class:`DrLive`),
  where its site or region is measured, once per stride.

The wave scopes run on event time: ``now_ms`` is the end of the stride read, so a rule's
``for`` is so much of the waveform, however fast a backlog is read.

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
    from pipeline.core.wave.dr import DrTracker
    from pipeline.core.wave.drops import Drop
    from pipeline.core.wave.incidents import Incident
    from pipeline.core.wave.reader import Stride
    from pipeline.core.wave.spectrum import Band
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


@dataclass(frozen=True, slots=True)
class WaveSubject:
    """One stride of a site's waveform: row 0 of the stride's series and features is the
    site, row ``1 + i`` its domain ``domains[i]``; ``bands`` name the feature columns.
    ``last_drop``: the site's latest load drop (this stride's or an earlier one)."""

    stride: Stride
    domains: tuple[str, ...]
    bands: tuple[Band, ...]
    lag_s: tuple[float, ...]  # the ramp lags of the feature columns
    last_drop: Drop | None


@dataclass(frozen=True, slots=True)
class RegionDrops:
    """A region's incidents closed this tick, and its latest fleet incident."""

    region: str
    closed: Sequence[Incident]
    last_fleet: Incident | None


@dataclass(frozen=True, slots=True)
class DrLive:
    """A demand-response event being measured; ``ended``: past its end."""

    tracker: DrTracker
    scope: str  # "site atl-2" or "region us-east", for alert texts
    ended: bool


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


class WaveRule(Protocol):
    def __call__(
        self, book: AlertBook, subject: WaveSubject, now_ms: int, policy: SitePolicy, /
    ) -> list[Alert]: ...


class RegionRule(Protocol):
    def __call__(
        self, book: AlertBook, subject: RegionDrops, now_ms: int, policy: SitePolicy, /
    ) -> list[Alert]: ...


class DrRule(Protocol):
    def __call__(
        self, book: AlertBook, subject: DrLive, now_ms: int, policy: SitePolicy, /
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
WAVE: Scope[WaveRule] = Scope(
    "power wave", "a site's waveform features and load drops; per stride of event time"
)
REGION_DROPS: Scope[RegionRule] = Scope(
    "region drops", "the load drops of a region's sites, grouped; per tick"
)
DEMAND_RESPONSE: Scope[DrRule] = Scope(
    "demand response", "a demand-response event's actual load against its target; per stride"
)
