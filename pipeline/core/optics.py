"""A link's optics: receive power per lane, the module's own thresholds, and the trend.

Optical receive power falls slowly before a link fails: a dirty or stressed connector,
an aging laser on the far end. :class:`Optics` keeps the newest power of each lane, the
thresholds the module itself reports (SFF-8636 and CMIS modules carry low/high warning
and alarm thresholds in their memory map, set by the vendor for that part), and a
least-squares trend of each lane over the drift window, in dB per day.

The trend is exact least squares over every sample in the window: each bucket of a
:class:`pipeline.core.link_window.WindowSums` holds, per lane, n, sum t, sum p, sum t^2 and
sum t*p (t in days since the link's first optics sample, p in dBm), and those sums add
up across buckets. It is judged only once the samples span half the window; a module
with another lane count starts a new trend.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from pipeline.core.link_window import WindowSums

_DAY_MS = 86_400_000
_SUMS = 5  # per lane: n, t, p, t*t, t*p


class Thresholds(NamedTuple):
    """The module's rx power thresholds (dBm); None where it reports none."""

    low_warn: float | None = None
    low_alarm: float | None = None
    high_warn: float | None = None
    high_alarm: float | None = None


class Drift(NamedTuple):
    """The fastest-falling lane: its slope (dB per day, negative when falling)."""

    lane: int
    db_per_day: float


class Optics:
    __slots__ = ("_trend", "first_ms", "lanes", "thresholds", "window_ms")

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self.lanes: tuple[float, ...] = ()  # newest rx power per lane
        self.thresholds = Thresholds()
        self.first_ms: int | None = None
        self._trend: WindowSums | None = None

    def observe(self, ts_ms: int, rx_dbm: Sequence[float], thresholds: Thresholds) -> None:
        """One sample's rx power per lane (in order of event time) and the thresholds
        it carries (those it leaves out keep their last known value)."""
        if any(value is not None for value in thresholds):
            known = zip(thresholds, self.thresholds, strict=True)
            self.thresholds = Thresholds(*(old if new is None else new for new, old in known))
        if not rx_dbm:
            return
        if len(rx_dbm) != len(self.lanes) or self._trend is None or self.first_ms is None:
            self._trend = WindowSums(self.window_ms, _SUMS * len(rx_dbm))
            self.first_ms = ts_ms
        self.lanes = tuple(rx_dbm)
        t = (ts_ms - self.first_ms) / _DAY_MS
        values: list[float] = []
        for p in rx_dbm:
            values += (1.0, t, p, t * t, t * p)
        self._trend.add(ts_ms, values)

    def weakest(self) -> tuple[int, float] | None:
        """(lane, dBm) of the lane with the lowest rx power now; None without optics."""
        if not self.lanes:
            return None
        lane = min(range(len(self.lanes)), key=self.lanes.__getitem__)
        return lane, self.lanes[lane]

    def drift(self) -> Drift | None:
        """The lane whose power falls fastest over the window, or None while the
        samples span less than half the window (or no lane has two distinct times)."""
        trend = self._trend
        if trend is None or trend.newest_ms is None or self.first_ms is None:
            return None
        if trend.newest_ms - self.first_ms < self.window_ms / 2:
            return None
        sums = trend.sums()
        worst: Drift | None = None
        for lane in range(len(sums) // _SUMS):
            n, st, sp, stt, stp = sums[lane * _SUMS : (lane + 1) * _SUMS]
            spread = n * stt - st * st
            if n < 2 or spread <= 1e-12 * max(1.0, n * stt):
                continue
            slope = (n * stp - st * sp) / spread
            if worst is None or slope < worst.db_per_day:
                worst = Drift(lane, slope)
        return worst
