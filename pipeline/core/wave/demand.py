"""Demand-response events as the worker holds them: the events on ``control.dr``, their
baselines, and the measurement of each event where its site (or region) is read.

* :class:`DemandBook`: every event on the compacted topic (each worker reads it whole),
  and the baseline of each event measured here. A baseline comes from the store (the
  edge loads it: :class:`BaselineRequest` out, :meth:`DemandBook.set_baseline` in);
  until it is there, a reduction's target is unknown (its cells count as unmeasured,
  the report's coverage says so) and a ceiling's curtailment cannot be priced.
* :class:`DrRuns`: the events of one site stage or region stage being measured, stride
  by stride (:class:`pipeline.core.wave.dr.DrTracker`), with their ``dr_off_target``
  alerts and one ``dr_tracking`` row per stride.

A cancelled event was cut short: its ``end_ts`` is when it was called off (``megawatch
dr cancel`` rewrites it; an event cancelled before its start is forgotten instead).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from pipeline.core.alert_book import AlertBook
from pipeline.core.policy import SitePolicy
from pipeline.core.rules.dr_off_target import DR_GRACE, DR_TOLERANCE
from pipeline.core.rules.registry import registry
from pipeline.core.rules.scopes import DEMAND_RESPONSE, DrLive
from pipeline.core.wave.baseline import expand
from pipeline.core.wave.dr import DrEvent, DrTerms, DrTracker
from pipeline.core.wave.rows import Columns, dr_tracking_row
from pipeline.events import Alert, DemandResponse

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
#: A baseline asked for and not set is asked again after this long (a store away).
BASELINE_RETRY_MS = 60_000
#: Baselines are asked for this long before their event starts (and any time after).
BASELINE_LEAD_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class BaselineRequest:
    """The edge should load the baseline of ``event`` over ``sites`` (summed)."""

    event: DemandResponse
    sites: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BaselineFound:
    """A baseline profile over the event's minutes (``interval_ms`` from ``start_ms``),
    the method that made it and the days it averaged; ``profile_w`` empty and ``why``
    set when there is none."""

    profile_w: FloatArray
    start_ms: int
    interval_ms: int
    method: str
    days: tuple[date, ...] = ()
    why: str = ""

    @property
    def found(self) -> bool:
        return len(self.profile_w) > 0

    @property
    def mean_mw(self) -> float | None:
        return float(np.nanmean(self.profile_w)) / 1e6 if self.found else None


def dr_event(spec: DemandResponse) -> DrEvent:
    """The contract's event as :mod:`pipeline.core.wave.dr` measures it."""
    return DrEvent(
        spec.id,
        spec.scope,
        spec.start_ts,
        spec.end_ts,
        spec.ceiling_mw,
        spec.reduction_pct,
        region=spec.region is not None,
    )


class DemandBook:
    """The events of ``control.dr`` and the baselines loaded for them."""

    def __init__(self) -> None:
        self.events: dict[str, DemandResponse] = {}
        self.invalid = 0  # records that are no event (ignored; counted)
        self.baselines: dict[str, BaselineFound] = {}
        self._asked: dict[str, int] = {}  # event id -> when its baseline was asked for
        #: events measured here whose record changed (a cancel): their row to write again
        self.changed: set[str] = set()

    def apply(self, key: str, value: bytes | None) -> str | None:
        """A record of control.dr (a null value forgets the event); the reason when it
        is no event."""
        if not value:
            self.events.pop(key, None)
            self.baselines.pop(key, None)
            return None
        try:
            spec = DemandResponse.model_validate_json(value)
        except ValidationError as exc:
            self.invalid += 1
            return f"control.dr record {key!r} is no DR event: {exc.errors()[0]['msg']}"
        old = self.events.get(spec.id)
        if old is not None and (old.start_ts, old.site, old.region) != (
            spec.start_ts,
            spec.site,
            spec.region,
        ):
            self.baselines.pop(spec.id, None)  # another event under the same id
        elif old is not None and old != spec and spec.id in self.baselines:
            self.changed.add(spec.id)
        self.events[spec.id] = spec
        return None

    def of_site(self, site: str) -> list[DemandResponse]:
        return [e for e in self.events.values() if e.site == site]

    def of_region(self, region: str) -> list[DemandResponse]:
        return [e for e in self.events.values() if e.region == region]

    def wanted(
        self, spec: DemandResponse, sites: Sequence[str], now_ms: int
    ) -> BaselineRequest | None:
        """A request for the event's baseline, when it has none, is near or under way,
        and was not asked for lately."""
        if spec.id in self.baselines or now_ms < spec.start_ts - BASELINE_LEAD_MS:
            return None
        asked = self._asked.get(spec.id)
        if asked is not None and now_ms - asked < BASELINE_RETRY_MS:
            return None
        self._asked[spec.id] = now_ms
        return BaselineRequest(spec, tuple(sites))

    def set_baseline(self, event_id: str, found: BaselineFound) -> None:
        self.baselines[event_id] = found
        self._asked.pop(event_id, None)

    def baseline_w(self, event_id: str, start_ms: int, step_ms: int, n: int) -> FloatArray:
        """The event's baseline on ``n`` cells from ``start_ms`` (NaN where unknown)."""
        found = self.baselines.get(event_id)
        if found is None or not found.found:
            return np.full(n, np.nan)
        return expand(found.profile_w, found.start_ms, found.interval_ms, start_ms, step_ms, n)


def dr_terms(policy: SitePolicy) -> DrTerms:
    return DrTerms(tolerance=policy[DR_TOLERANCE], grace_s=policy[DR_GRACE])


class DrRuns:
    """The events of one site or region being measured here, stride by stride."""

    def __init__(self, scope: str) -> None:
        self.scope = scope  # "site atl-2", "region us-east": for alert texts
        self.runs: dict[str, DrTracker] = {}
        self.rules = registry().rules_of(DEMAND_RESPONSE)

    def push(
        self,
        events: Sequence[DemandResponse],
        demand: DemandBook,
        series: tuple[int, int, FloatArray],
        book: AlertBook,
        policy: SitePolicy,
        rows: Columns,
        alert: Callable[[bool], bool] = lambda ended: True,
    ) -> list[Alert]:
        """Cells ``(start_ms, step_ms, actual_w)`` of the scope: pushed into each event
        they overlap (rows), its alert stepped at the cells' end (``alert(ended)`` says
        whether rules run: not while the stage warms up)."""
        start_ms, step_ms, actual = series
        end_ms = start_ms + step_ms * len(actual)
        out: list[Alert] = []
        for spec in events:
            if not (spec.start_ts < end_ms and start_ms < spec.end_ts):
                continue
            tracker = self.runs.get(spec.id)
            if tracker is None or tracker.event.end_ms != spec.end_ts:
                tracker = self.runs[spec.id] = self._tracker(spec, tracker, policy)
            base = demand.baseline_w(spec.id, start_ms, step_ms, len(actual))
            step = tracker.push(start_ms, step_ms, actual, base)
            if step is not None:
                dr_tracking_row(rows, spec.id, spec.scope, step)
            ended = end_ms >= spec.end_ts
            if alert(ended):
                live = DrLive(tracker, self.scope, ended)
                for evaluate in self.rules:
                    out += evaluate(book, live, end_ms, policy)
            if ended:
                del self.runs[spec.id]
        return out

    @staticmethod
    def _tracker(spec: DemandResponse, old: DrTracker | None, policy: SitePolicy) -> DrTracker:
        """A new tracker, or the old one's state under the event's new end (a cancel)."""
        tracker = DrTracker(dr_event(spec), dr_terms(policy))
        if old is not None:
            tracker.reached_ms, tracker.above_since_ms = old.reached_ms, old.above_since_ms
        return tracker
