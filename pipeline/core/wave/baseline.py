"""The baseline of a demand-response event: what the site would have drawn without it.

Method: **high X of Y** customer baseline, the family the US markets settle demand
response with. Of the ``of_days`` most recent *comparable* days before the event (same
day type: weekday or weekend; no earlier event day; no day with missing data in the
event's hours), the ``highest`` days by mean load over the event's hours are averaged,
interval by interval. NYISO's average-day CBL is the high 5 of 10 weekdays (the
default here), PJM's economic CBL the high 4 of 5, CAISO's "10 in 10" is 10 of 10.
Optionally a **day-of adjustment** shifts that profile by the event day's own level in
a window before the event (actual minus baseline, averaged), capped at
``adjust_cap`` of the baseline there (+-20 %, the cap CAISO applies): a campus whose
load grew since last week is not credited with a cut it did not make. The interval
profiles come from the store (the per-minute rollups); :func:`expand` puts one on the
aligned grid for :class:`pipeline.core.wave.dr.DrTracker`.

Training campuses run every day of the week; for them ``same_day_type=False`` (all
days comparable) is usually the better choice, and the report states which was used.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class BaselineMethod:
    highest: int = 5
    of_days: int = 10
    same_day_type: bool = True
    adjust_cap: float = 0.2  # 0: no day-of adjustment

    def __post_init__(self) -> None:
        if not 1 <= self.highest <= self.of_days:
            raise ValueError("baseline needs 1 <= highest <= of_days")
        if self.adjust_cap < 0:
            raise ValueError("adjust_cap must be >= 0")

    def __str__(self) -> str:
        kind = "same-type days" if self.same_day_type else "days"
        adjust = f", day-of adjustment capped at {self.adjust_cap:.0%}" if self.adjust_cap else ""
        return f"high {self.highest} of {self.of_days} {kind}{adjust}"


@dataclass(frozen=True, slots=True)
class Baseline:
    profile_w: FloatArray  # per interval of the event's hours
    days: tuple[date, ...]  # the days averaged, most recent first
    method: BaselineMethod


def _weekend(day: date) -> bool:
    return day.weekday() >= 5


def comparable_days(
    event_day: date,
    days: Iterable[date],
    method: BaselineMethod,
    excluded: Collection[date] = (),
) -> list[date]:
    """The ``of_days`` most recent days before ``event_day`` that compare with it."""
    candidates = sorted(
        (
            d
            for d in days
            if d < event_day
            and d not in excluded
            and (not method.same_day_type or _weekend(d) == _weekend(event_day))
        ),
        reverse=True,
    )
    return candidates[: method.of_days]


def high_x_of_y(
    profiles: Mapping[date, FloatArray],
    event_day: date,
    method: BaselineMethod | None = None,
    excluded: Collection[date] = (),
) -> Baseline:
    """The baseline profile over the event's hours from the days' profiles (each the
    load per interval over the same clock hours; a day with a NaN is not comparable)."""
    method = method or BaselineMethod()
    complete = [d for d, p in profiles.items() if not np.isnan(p).any()]
    window = comparable_days(event_day, complete, method, excluded)
    if len(window) < method.highest:
        raise ValueError(
            f"baseline {method}: only {len(window)} comparable days before {event_day}"
        )
    means = {d: float(np.mean(profiles[d])) for d in window}
    chosen = sorted(window, key=lambda d: (-means[d], -d.toordinal()))[: method.highest]
    chosen.sort(reverse=True)
    profile = np.mean([profiles[d] for d in chosen], axis=0)
    return Baseline(np.asarray(profile, dtype=np.float64), tuple(chosen), method)


def adjusted(
    baseline: Baseline, baseline_before: FloatArray, actual_before: FloatArray
) -> FloatArray:
    """The profile shifted by the event day's level before the event: the mean of
    ``actual_before - baseline_before`` (the same days' average over the adjustment
    window), capped at ``adjust_cap`` of that window's mean baseline."""
    cap = baseline.method.adjust_cap * float(np.mean(baseline_before))
    shift = float(np.nanmean(np.asarray(actual_before) - np.asarray(baseline_before)))
    return baseline.profile_w + float(np.clip(shift, -cap, cap))


def average_of(profiles: Mapping[date, FloatArray], days: Iterable[date]) -> FloatArray:
    """The interval-by-interval mean of some days' profiles (e.g. the baseline's days
    over the adjustment window)."""
    return np.asarray(np.mean([profiles[d] for d in days], axis=0), dtype=np.float64)


def expand(
    profile_w: FloatArray,
    profile_start_ms: int,
    interval_ms: int,
    start_ms: int,
    step_ms: int,
    n: int,
) -> FloatArray:
    """The profile (one value per ``interval_ms`` from ``profile_start_ms``) on ``n``
    grid cells from ``start_ms``: each cell takes its interval's value; NaN outside."""
    times = start_ms + step_ms * np.arange(n, dtype=np.int64)
    index = (times - profile_start_ms) // interval_ms
    inside = (index >= 0) & (index < len(profile_w))
    out = np.full(n, np.nan)
    out[inside] = np.asarray(profile_w)[index[inside]]
    return out
