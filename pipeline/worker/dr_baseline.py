"""The baseline of a demand-response event, from the store: what the site (or the sum of
the region's sites) drew at the event's clock hours on comparable days before it.

The load of each prior day comes from ``wave_features`` (the sites' rows, per minute: the
mean of the strides' known cells); a day is complete when every minute of the event's
hours has every site measured over at least ``MIN_KNOWN`` of its cells. The profile is
then :func:`pipeline.core.wave.baseline.high_x_of_y` of those days (the method in the
settings, stated in the report), optionally shifted by the event day's own level in the
hour that ends an hour before the start (:func:`pipeline.core.wave.baseline.adjusted`).
Days are UTC days; a day with an earlier event of the same scope is not comparable.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime

import numpy as np

from pipeline.core.wave.baseline import (
    Baseline,
    BaselineMethod,
    adjusted,
    average_of,
    high_x_of_y,
)
from pipeline.core.wave.demand import BaselineFound, BaselineRequest
from pipeline.settings import Settings
from pipeline.store.columns import ColumnStore

logger = logging.getLogger(__name__)

MINUTE_MS = 60_000
DAY_MS = 86_400_000
MIN_KNOWN = 0.9  # of a minute's cells, per site, for the minute to count
SOURCE = "site power per minute from wave_features"

_PROFILE_SQL = """
SELECT site,
       toInt64(toUnixTimestamp(toStartOfMinute(ts - toIntervalMillisecond(1)))) * 1000 AS minute,
       sum(avg_w * known_cells) / sum(known_cells) AS w, sum(known_cells) / sum(cells) AS known
FROM wave_features FINAL
WHERE site IN {sites:Array(String)} AND domain = '' AND known_cells > 0
  AND ts > fromUnixTimestamp64Milli({since:Int64}, 'UTC')
  AND ts <= fromUnixTimestamp64Milli({until:Int64}, 'UTC')
GROUP BY site, minute
"""


def method_of(settings: Settings) -> BaselineMethod:
    return BaselineMethod(
        settings.dr_baseline_highest,
        settings.dr_baseline_days,
        settings.dr_baseline_same_day_type,
        settings.dr_baseline_adjust_cap,
    )


def load_baseline(
    store: ColumnStore,
    request: BaselineRequest,
    method: BaselineMethod,
    excluded: Collection[date] = (),
) -> BaselineFound:
    """The event's baseline, or a :class:`BaselineFound` that says why there is none."""
    spec = request.event
    first = spec.start_ts // MINUTE_MS * MINUTE_MS
    minutes = -(-(spec.end_ts - first) // MINUTE_MS)
    lookback = method.of_days * (3 if method.same_day_type else 1) + len(excluded) + 2
    since = first - lookback * DAY_MS
    loads = _minute_loads(store, request.sites, since, first + minutes * MINUTE_MS)
    profiles: dict[date, np.ndarray] = {}
    event_day = _day(first)
    for back in range(1, lookback + 1):
        day_first = first - back * DAY_MS
        profile = _profile(loads, request.sites, day_first, minutes)
        if profile is not None:
            profiles[_day(day_first)] = profile
    text = f"{method} ({SOURCE})"
    try:
        baseline = high_x_of_y(profiles, event_day, method, excluded)
    except ValueError as exc:
        return BaselineFound(np.zeros(0), first, MINUTE_MS, text, why=str(exc))
    profile = baseline.profile_w
    if method.adjust_cap > 0:
        shifted = _adjusted(baseline, loads, request.sites, first)
        profile = profile if shifted is None else shifted
    return BaselineFound(profile, first, MINUTE_MS, text, baseline.days)


def _minute_loads(
    store: ColumnStore, sites: Sequence[str], since: int, until: int
) -> dict[int, dict[str, float]]:
    """minute (epoch ms) -> site -> W, for minutes whose cells were known enough."""
    rows = store.query_rows(_PROFILE_SQL, {"sites": list(sites), "since": since, "until": until})
    out: dict[int, dict[str, float]] = defaultdict(dict)
    for site, minute, w, known in rows:
        if known >= MIN_KNOWN and w is not None:
            out[int(minute)][str(site)] = float(w)
    return out


def _profile(
    loads: dict[int, dict[str, float]], sites: Sequence[str], first: int, minutes: int
) -> np.ndarray | None:
    """The summed load per minute from ``first``, or None when a minute misses a site."""
    out = np.empty(minutes)
    for k in range(minutes):
        at = loads.get(first + k * MINUTE_MS, {})
        if any(site not in at for site in sites):
            return None
        out[k] = sum(at[site] for site in sites)
    return out


def _adjusted(
    baseline: Baseline, loads: dict[int, dict[str, float]], sites: Sequence[str], first: int
) -> np.ndarray | None:
    """The day-of adjustment over the hour ending an hour before the event, when the
    event day and every baseline day are complete there."""
    window = first - 2 * 3_600_000
    actual = _profile(loads, sites, window, 60)
    before = {
        day: profile
        for day in baseline.days
        if (profile := _profile(loads, sites, window - _days_back(day, first), 60)) is not None
    }
    if actual is None or len(before) != len(baseline.days):
        logger.info("baseline: no day-of adjustment (the hour before the event is not complete)")
        return None
    return adjusted(baseline, average_of(before, baseline.days), actual)


def _days_back(day: date, first: int) -> int:
    return (_day(first) - day).days * DAY_MS


def _day(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, UTC).date()


def excluded_days(events: Collection[tuple[str, int]], scope: str, before_ms: int) -> set[date]:
    """Days of earlier events of the same scope: (scope, start_ms) pairs."""
    return {_day(start) for s, start in events if s == scope and start < before_ms}


__all__ = ["excluded_days", "load_baseline", "method_of"]
