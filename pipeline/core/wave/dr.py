"""Demand response: a request to cut load, and how well a site (or region) followed it.

A :class:`DrEvent` asks for a ceiling in MW or a reduction in % of the baseline (what
the site would have drawn without the event: :mod:`pipeline.core.wave.baseline`) from
``start_ms`` to ``end_ms``. Over the aligned series of actual load (W, NaN unknown) and
the baseline expanded to the same cells, per cell ``t`` in ``[start, end)``:

* **target** ``T(t)``: the ceiling, or ``baseline(t) * (1 - reduction_pct / 100)``;
* **on target** when ``P(t) <= T(t) * (1 + tolerance)``;
* **time to target**: from ``start_ms`` to the first cell on target;
* **compliance %**: on-target cells / known cells, over ``[start + grace_s, end)``: the
  grace is the response time the program allows (ramping down is not a failure);
* **energy** (MWh) over the known cells: actual, baseline, target; **curtailed** =
  baseline - actual, **requested** = baseline - target, **delivered %** = curtailed /
  requested. Unknown cells count in no sum and lower ``coverage``: the report says how
  much of the event it could verify rather than guessing.

:class:`DrTracker` is the streaming form the site stage feeds block by block; it also
keeps the live state ``dr_off_target`` needs (since when the load has been above target).
Each push returns a :class:`DrStep`, the counts and sums of its cells: stored as rows,
they add up to the same :class:`DrResult` (what the verification report reads, so that
a restart mid-event loses no part the store holds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pipeline.core.rules.dr_off_target import DR_GRACE, DR_TOLERANCE

FloatArray = npt.NDArray[np.float64]
_W_MS_PER_MWH = 3.6e12  # W x ms in one MWh


@dataclass(frozen=True, slots=True)
class DrEvent:
    id: str  # the utility's or aggregator's id
    scope: str  # a site id, or a region id when ``region`` is set
    start_ms: int
    end_ms: int
    ceiling_mw: float | None = None
    reduction_pct: float | None = None
    region: bool = False

    def __post_init__(self) -> None:
        if (self.ceiling_mw is None) == (self.reduction_pct is None):
            raise ValueError(f"DR event {self.id}: give either ceiling_mw or reduction_pct")
        if self.end_ms <= self.start_ms:
            raise ValueError(f"DR event {self.id}: end must be after start")
        if self.ceiling_mw is not None and self.ceiling_mw < 0:
            raise ValueError(f"DR event {self.id}: ceiling_mw must be >= 0")
        if self.reduction_pct is not None and not 0 < self.reduction_pct < 100:
            raise ValueError(f"DR event {self.id}: reduction_pct must be in (0, 100)")

    def target_w(self, baseline_w: FloatArray) -> FloatArray:
        if self.ceiling_mw is not None:
            return np.full(np.shape(baseline_w), self.ceiling_mw * 1e6)
        assert self.reduction_pct is not None
        return np.asarray(baseline_w, dtype=np.float64) * (1 - self.reduction_pct / 100)


@dataclass(frozen=True, slots=True)
class DrTerms:
    tolerance: float = DR_TOLERANCE.default  # above target by this share: still on target
    grace_s: float = DR_GRACE.default  # response time allowed before compliance counts


@dataclass(frozen=True, slots=True)
class DrStep:
    """What one push added: the counts and sums of its cells inside the event (the rows
    the verification report adds up; :meth:`DrTracker.result` is their sum)."""

    start_ms: int  # of the cells pushed
    end_ms: int
    cells: int  # inside the event
    known: int
    graced: int  # known and after the grace
    on: int  # of those, on target
    reached_ms: int | None  # the first cell on target among them
    actual_wms: float  # W x ms over the known cells
    baseline_wms: float
    target_wms: float
    actual_w: float  # the last known cell's (NaN: none known)
    target_w: float


@dataclass(frozen=True, slots=True)
class DrResult:
    event_id: str
    reached_ms: int | None  # first cell on target; None: never reached
    compliance_pct: float | None  # None: no known cell after the grace
    coverage: float  # known cells / cells of the event seen so far
    actual_mwh: float
    baseline_mwh: float
    target_mwh: float

    @property
    def curtailed_mwh(self) -> float:
        return self.baseline_mwh - self.actual_mwh

    @property
    def requested_mwh(self) -> float:
        return self.baseline_mwh - self.target_mwh

    @property
    def delivered_pct(self) -> float | None:
        requested = self.requested_mwh
        return 100 * self.curtailed_mwh / requested if requested > 0 else None


class DrTracker:
    """One DR event measured block by block (blocks in time order, one grid)."""

    def __init__(self, event: DrEvent, terms: DrTerms | None = None) -> None:
        self.event = event
        self.terms = terms or DrTerms()
        self.reached_ms: int | None = None
        self.above_since_ms: int | None = None  # off target since (None: on target now)
        self.last_actual_w = float("nan")
        self.last_target_w = float("nan")
        self._cells = self._known = self._graced = self._on = 0
        self._actual = self._baseline = self._target = 0.0  # W x ms

    def push(
        self, start_ms: int, step_ms: int, actual_w: FloatArray, baseline_w: FloatArray
    ) -> DrStep | None:
        """Cells from ``start_ms`` (actual and baseline, NaN unknown); what they added,
        or None when none of them is inside the event."""
        times = start_ms + step_ms * np.arange(len(actual_w), dtype=np.int64)
        inside = (times >= self.event.start_ms) & (times < self.event.end_ms)
        if not inside.any():
            return None
        times = times[inside]
        actual = np.asarray(actual_w, dtype=np.float64)[inside]
        baseline = np.asarray(baseline_w, dtype=np.float64)[inside]
        target = self.event.target_w(baseline)
        known = ~np.isnan(actual) & ~np.isnan(target)
        on = known & (actual <= target * (1 + self.terms.tolerance))
        first_on = int(times[np.argmax(on)]) if on.any() else None
        self._track_reached(times, on)
        self._track_live(times, actual, target, known, on)
        graced = known & (times >= self.event.start_ms + self.terms.grace_s * 1000)
        step = DrStep(
            start_ms=int(times[0]),
            end_ms=int(times[-1]) + step_ms,
            cells=len(times),
            known=int(known.sum()),
            graced=int(graced.sum()),
            on=int((on & graced).sum()),
            reached_ms=first_on,
            actual_wms=float(actual[known].sum()) * step_ms,
            baseline_wms=float(baseline[known].sum()) * step_ms,
            target_wms=float(target[known].sum()) * step_ms,
            actual_w=self.last_actual_w,
            target_w=self.last_target_w,
        )
        self._cells += step.cells
        self._known += step.known
        self._graced += step.graced
        self._on += step.on
        self._actual += step.actual_wms
        self._baseline += step.baseline_wms
        self._target += step.target_wms
        return step

    def _track_reached(self, times: npt.NDArray[np.int64], on: npt.NDArray[np.bool_]) -> None:
        if self.reached_ms is None and on.any():
            self.reached_ms = int(times[np.argmax(on)])

    def _track_live(
        self,
        times: npt.NDArray[np.int64],
        actual: FloatArray,
        target: FloatArray,
        known: npt.NDArray[np.bool_],
        on: npt.NDArray[np.bool_],
    ) -> None:
        """The latest known cell's actual and target, and since when the load has been
        above target without a break (unknown cells neither break nor start a run)."""
        cells = np.flatnonzero(known)
        if not len(cells):
            return
        on_known = on[cells]
        if on_known[-1]:
            self.above_since_ms = None
        elif on_known.any():  # the run above target began after the last cell on target
            self.above_since_ms = int(times[cells[np.flatnonzero(on_known)[-1] + 1]])
        elif self.above_since_ms is None:
            self.above_since_ms = int(times[cells[0]])
        last = int(cells[-1])
        self.last_actual_w, self.last_target_w = float(actual[last]), float(target[last])

    def result(self) -> DrResult:
        return DrResult(
            event_id=self.event.id,
            reached_ms=self.reached_ms,
            compliance_pct=100 * self._on / self._graced if self._graced else None,
            coverage=self._known / self._cells if self._cells else 0.0,
            actual_mwh=self._actual / _W_MS_PER_MWH,
            baseline_mwh=self._baseline / _W_MS_PER_MWH,
            target_mwh=self._target / _W_MS_PER_MWH,
        )

    @property
    def time_to_target_s(self) -> float | None:
        return None if self.reached_ms is None else (self.reached_ms - self.event.start_ms) / 1000


def evaluate(
    event: DrEvent,
    start_ms: int,
    step_ms: int,
    actual_w: FloatArray,
    baseline_w: FloatArray,
    terms: DrTerms | None = None,
) -> DrResult:
    """The verification of a finished event from its whole series (one block)."""
    tracker = DrTracker(event, terms)
    tracker.push(start_ms, step_ms, actual_w, baseline_w)
    return tracker.result()
