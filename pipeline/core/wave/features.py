"""Windowed features of aligned power series: ramps, swing, oscillation bands.

Definitions (per row: the site, or one power domain; W in, W out):

* **ramp over a lag** ``L``: the largest ``|P(t) - P(t - L)|`` over the cells ``t`` read
  (by default every cell that has a cell ``L`` before it). Over 1 s it is the "MW per
  second" a utility limits; over 10 s it catches slower ramps that stay under the 1 s
  figure. Pairs with an unknown end are skipped.
* **swing**: peak-to-peak, ``max P - min P`` over the window.
* **band amplitudes** and **dominant frequency**: :mod:`pipeline.core.wave.spectrum`.
* **mean**: the window's mean, the reference for relative amplitudes (20 % of the mean
  for a +-20 % swing).

Any unknown cell in the window makes swing, mean, bands and dominant frequency NaN for
that row: a feature is read from a complete window or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pipeline.core.wave.spectrum import Band, band_amplitudes, dominant

FloatArray = npt.NDArray[np.float64]

#: Example bands of interconnection limits: the grid's electromechanical modes (0.1-2 Hz),
#: and voltage flicker and turbine-generator torsional modes (3-30 Hz).
DEFAULT_BANDS = (Band(0.1, 2.0), Band(3.0, 30.0))


@dataclass(frozen=True, slots=True)
class FeatureConfig:
    window_s: float = 10.0  # the FFT window; a band's lo should be >= 2 / window_s
    bands: tuple[Band, ...] = DEFAULT_BANDS
    ramp_lags_s: tuple[float, ...] = (1.0, 10.0)
    min_hz: float | None = None  # lowest dominant frequency; None: two periods per window

    def __post_init__(self) -> None:
        if self.window_s <= 0 or any(lag <= 0 for lag in self.ramp_lags_s):
            raise ValueError("window_s and ramp lags must be > 0")

    def window_cells(self, step_ms: int) -> int:
        return max(4, round(self.window_s * 1000 / step_ms))

    def lag_cells(self, step_ms: int) -> tuple[int, ...]:
        return tuple(max(1, round(lag * 1000 / step_ms)) for lag in self.ramp_lags_s)


@dataclass(frozen=True, slots=True)
class WindowFeatures:
    """Features of one window, one entry per row (site first, then domains)."""

    end_ms: int  # the window is [end_ms - window_s, end_ms)
    mean_w: FloatArray  # (rows,)
    swing_w: FloatArray  # (rows,)
    ramp_w: FloatArray  # (rows, lags)
    band_w: FloatArray  # (rows, bands)
    dominant_hz: FloatArray  # (rows,)
    dominant_w: FloatArray  # (rows,)


def max_change(x: FloatArray, lag: int, recent: int | None = None) -> FloatArray:
    """Largest ``|x[t] - x[t - lag]|`` along the last axis, over the last ``recent``
    cells ``t`` (all by default); NaN where no pair is known."""
    n = x.shape[-1]
    first = lag if recent is None else max(lag, n - recent)
    if first >= n:
        return np.full(x.shape[:-1], np.nan)
    change = np.abs(x[..., first:] - x[..., first - lag : n - lag])
    known = ~np.isnan(change)
    out = np.where(known, change, -np.inf).max(axis=-1)
    return np.where(known.any(axis=-1), out, np.nan)


def swing(x: FloatArray) -> FloatArray:
    """Peak-to-peak along the last axis (NaN if any cell is unknown)."""
    return np.asarray(x.max(axis=-1) - x.min(axis=-1), dtype=np.float64)


def read_window(
    series: FloatArray, end_ms: int, step_ms: int, config: FeatureConfig, recent: int | None = None
) -> WindowFeatures:
    """The features of the newest window of ``series`` (rows x cells, oldest first, at
    least ``window_cells`` long; longer gives the ramps their lookback). Ramps are read
    over the newest ``recent`` cells (those of this tick), the rest over the window."""
    rows = np.atleast_2d(series)
    step_s = step_ms / 1000
    window = rows[:, -config.window_cells(step_ms) :]
    ramps = [max_change(rows, lag, recent) for lag in config.lag_cells(step_ms)]
    hz, amplitude = dominant(window, step_s, config.min_hz)
    return WindowFeatures(
        end_ms=end_ms,
        mean_w=window.mean(axis=-1),
        swing_w=swing(window),
        ramp_w=np.stack(ramps, axis=-1),
        band_w=band_amplitudes(window, step_s, config.bands),
        dominant_hz=hz,
        dominant_w=amplitude,
    )
