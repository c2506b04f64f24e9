"""Time-to-cap forecast: a robust linear trend of a site's total power.

Site power is noisy (training steps swing whole halls, checkpoints dip them), so an
ordinary least-squares line is dragged by every spike. The Theil-Sen estimator (median
of pairwise slopes) ignores up to ~29 % of outliers; with the samples thinned to one per
``step_ms`` it costs O(n^2) on about 60 points, a few milliseconds per site.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from statistics import median


@dataclass(frozen=True, slots=True)
class Projection:
    slope_w_per_s: float
    level_w: float  # fitted value at the newest point
    reach_ms: int | None  # when the fitted line reaches the cap; None if it never does


class PowerTrend:
    """Recent (time, total) points of one site, thinned to one per ``step_ms``."""

    __slots__ = ("_points", "step_ms", "window_ms")

    def __init__(self, window_ms: int, step_ms: int = 5_000) -> None:
        self.window_ms = window_ms
        self.step_ms = step_ms
        self._points: deque[tuple[int, float]] = deque()

    def add(self, at_ms: int, total_w: float) -> None:
        points = self._points
        if points and at_ms - points[-1][0] < self.step_ms:
            return
        points.append((at_ms, total_w))
        while points and points[0][0] < at_ms - self.window_ms:
            points.popleft()

    def clear(self) -> None:
        self._points.clear()

    def project(self, cap_w: float, min_points: int = 12) -> Projection | None:
        """Fit the trend and find when it meets ``cap_w``; None with too little history."""
        points = list(self._points)
        if len(points) < min_points or points[-1][0] - points[0][0] < self.window_ms // 5:
            return None
        slope = theil_sen_slope(points)
        t0 = points[-1][0]
        # Intercept as the median residual: robust like the slope.
        level = median(w - slope * (t - t0) / 1000 for t, w in points)
        reach = None
        if slope > 0 and level < cap_w:
            reach = t0 + int((cap_w - level) / slope * 1000)
        elif level >= cap_w:
            reach = t0
        return Projection(slope_w_per_s=slope, level_w=level, reach_ms=reach)


def theil_sen_slope(points: list[tuple[int, float]]) -> float:
    """Median of the pairwise slopes, in watts per second."""
    slopes = [
        (w2 - w1) * 1000 / (t2 - t1)
        for i, (t1, w1) in enumerate(points)
        for t2, w2 in points[i + 1 :]
        if t2 != t1
    ]
    return median(slopes) if slopes else 0.0
