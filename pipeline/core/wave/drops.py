"""Load drops: a site that lost a large share of its load within seconds, and stayed down.

Definition, on the aligned site series ``P`` (cells of ``step``):

* the reference at cell ``t`` is the highest load of the ``window_s`` before it,
  ``ref(t) = max P[t - window_s .. t]``;
* a drop is at the first cell ``t`` where ``P`` has fallen to ``(1 - ratio) * ref(t)``
  or below **and stays there** for ``sustain_s``:
  ``max P[t .. t + sustain_s] <= (1 - ratio) * ref(t)``. The sustain is what tells a
  lost load (the NERC 2024 event: loads went to backup power and stayed off) from a
  training swing, which comes back within a period; a swing slower than ``sustain_s``
  per half period is a drop each time, and reads so;
* after a drop, the next one is looked for ``window_s + sustain_s`` later (one event is
  reported once).

A drop reports when the loss reached the ratio (``at_ms``, the time drops of several
sites are grouped by), the peak it fell from, the mean load over the sustain (the new
level) and the share lost. Cells with an unknown load never make or confirm a drop.
:class:`DropDetector` is the streaming form: it keeps the tail of the series that the
next block needs and finds exactly what :func:`find_drops` finds on the whole series.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from pipeline.core.rules.load_drop import DROP_RATIO, DROP_SUSTAIN, DROP_WINDOW

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class DropConfig:
    ratio: float = DROP_RATIO.default  # share of the load lost (the site spec's drop_ratio)
    window_s: float = DROP_WINDOW.default  # within this long
    sustain_s: float = DROP_SUSTAIN.default  # and not back within this long

    def __post_init__(self) -> None:
        if not 0 < self.ratio < 1 or self.window_s <= 0 or self.sustain_s < 0:
            raise ValueError("drop ratio must be in (0, 1), window_s > 0, sustain_s >= 0")

    def cells(self, step_ms: int) -> tuple[int, int]:
        """(window, sustain) in cells."""
        cells_per_s = 1000 / step_ms
        window = max(1, round(self.window_s * cells_per_s))
        return window, round(self.sustain_s * cells_per_s)


@dataclass(frozen=True, slots=True)
class Drop:
    site: str
    at_ms: int  # the loss reached the ratio
    peak_ms: int  # the load it fell from was read then
    before_w: float  # that load
    after_w: float  # mean load over the sustain: the new level
    region: str | None = None

    @property
    def lost_w(self) -> float:
        return self.before_w - self.after_w

    @property
    def lost_ratio(self) -> float:
        return self.lost_w / self.before_w if self.before_w > 0 else 0.0


def find_drops(
    series: FloatArray,
    start_ms: int,
    step_ms: int,
    config: DropConfig,
    site: str,
    region: str | None = None,
    first: int = 0,
) -> list[Drop]:
    """The drops of a whole series whose cell is ``>= first`` (the cells before it are
    lookback only)."""
    window, sustain = config.cells(step_ms)
    x = np.asarray(series, dtype=np.float64)
    n = len(x)
    if n < window + sustain + 1:
        return []
    ref = sliding_window_view(x, window + 1).max(axis=-1)  # ref[j] is for cell j + window
    ahead = sliding_window_view(x, sustain + 1).max(axis=-1)  # ahead[i]: max x[i..i+sustain]
    cells = np.arange(window, n - sustain)
    level = (1 - config.ratio) * ref[: len(cells)]
    hit = (ahead[cells] <= level) & (x[cells] <= level) & (level > 0)  # NaN compares False
    drops: list[Drop] = []
    ready_at = first
    for t in map(int, cells[hit & (cells >= first)]):
        if t < ready_at:
            continue
        peak = t - window + int(np.argmax(x[t - window : t + 1]))
        drops.append(
            Drop(
                site=site,
                at_ms=start_ms + t * step_ms,
                peak_ms=start_ms + peak * step_ms,
                before_w=float(x[peak]),
                after_w=float(x[t : t + sustain + 1].mean()),
                region=region,
            )
        )
        ready_at = t + window + sustain
    return drops


class DropDetector:
    """Drops of one site from its aligned blocks, as they close (streaming)."""

    def __init__(self, site: str, step_ms: int, config: DropConfig | None = None) -> None:
        self.site = site
        self.step_ms = step_ms
        self.config = config or DropConfig()
        window, sustain = self.config.cells(step_ms)
        self._keep = window + 2 * sustain + 1  # lookback + cells not yet confirmable
        self._tail = np.zeros(0)
        self._tail_start: int | None = None  # cell of _tail[0]
        self._next = 0  # first cell not yet examined

    def push(self, start_ms: int, series: FloatArray, region: str | None = None) -> list[Drop]:
        """The drops confirmed by this block (``series``: the site's cells from
        ``start_ms``, NaN where unknown; a gap before it reads as unknown)."""
        first = start_ms // self.step_ms
        if self._tail_start is None:
            self._tail_start, self._next = first, first
        end = self._tail_start + len(self._tail)
        gap = np.full(max(0, first - end), np.nan)
        x = np.concatenate([self._tail, gap, np.asarray(series, dtype=np.float64)])
        origin = self._tail_start
        drops = find_drops(
            x, 0, self.step_ms, self.config, self.site, region, first=self._next - origin
        )
        drops = [_shifted(d, origin * self.step_ms) for d in drops]
        window, sustain = self.config.cells(self.step_ms)
        examined = origin + len(x) - sustain  # cells whose sustain is complete
        self._next = max(self._next, examined)
        if drops:
            self._next = max(self._next, drops[-1].at_ms // self.step_ms + window + sustain)
        cut = max(0, len(x) - self._keep)
        self._tail, self._tail_start = x[cut:], origin + cut
        return drops


def _shifted(drop: Drop, by_ms: int) -> Drop:
    return Drop(
        drop.site,
        drop.at_ms + by_ms,
        drop.peak_ms + by_ms,
        drop.before_w,
        drop.after_w,
        drop.region,
    )
