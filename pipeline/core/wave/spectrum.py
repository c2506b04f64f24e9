"""Oscillation of a power series: amplitude per frequency band and the dominant frequency.

One window of ``N`` samples at ``step_s`` is read as follows (every function here, along
the last axis, so domains are read in the same call as the site):

1. the least-squares line through the window is removed: a steady ramp is a ramp (see
   :func:`pipeline.core.wave.features.max_change`), not an oscillation;
2. a (periodic) Hann window ``w`` is applied and the one-sided DFT ``X_k`` taken
   (bins ``k / (N step_s)`` Hz up to Nyquist);
3. **band amplitude** of ``[lo, hi]`` Hz is ``sqrt(4 * sum_band |X_k|^2 / (N * sum w^2))``:
   the peak amplitude of the one sinusoid that would carry the band's power. The power
   correction (``sum w^2``, not ``sum w``) makes it independent of where the tone falls
   between bins. The sum runs over the bins from one below ``lo`` to one above ``hi``
   (never the 0 Hz bin), so that a tone on an edge is read whole (an on-bin tone spans
   its bin and one each side): edges are as sharp as the window's resolution,
   ``1 / (N step_s)`` Hz. A swing of +-20 % of the mean at 0.5 Hz reads as 0.2 x mean;
   several tones in one band read as the root of the sum of their squared amplitudes.
   A band is read up to Nyquist only (``1 / (2 step_s)``); one wholly above it is NaN;
4. **dominant frequency**: the bin of largest amplitude at or above ``min_hz`` (at
   least two periods in the window by default), refined by a parabola through the log
   amplitudes of it and its neighbours (Gaussian interpolation; a Hann peak is close to
   a Gaussian, which makes this accurate to a few hundredths of a bin).

A window holding a NaN (a cell with unknown meters) reads NaN throughout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Band:
    """A frequency band, in Hz, both edges included."""

    lo_hz: float
    hi_hz: float

    def __post_init__(self) -> None:
        if not 0 < self.lo_hz < self.hi_hz:
            raise ValueError(f"band needs 0 < lo < hi, got [{self.lo_hz}, {self.hi_hz}]")

    def __str__(self) -> str:
        return f"{self.lo_hz:g}-{self.hi_hz:g} Hz"


def detrended(x: FloatArray) -> FloatArray:
    """``x`` minus its least-squares line, along the last axis."""
    n = x.shape[-1]
    t = np.arange(n) - (n - 1) / 2
    slope = (x * t).sum(axis=-1, keepdims=True) / (t * t).sum()
    return np.asarray(x - x.mean(axis=-1, keepdims=True) - slope * t, dtype=np.float64)


def hann(n: int) -> FloatArray:
    """The periodic Hann window: an on-bin tone falls in exactly three bins."""
    return np.asarray(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n), dtype=np.float64)


def power_spectrum(x: FloatArray, step_s: float) -> tuple[FloatArray, FloatArray]:
    """(frequencies in Hz, ``4 |X_k|^2 / (N sum w^2)`` per bin): the squared amplitude a
    bin contributes to a band (see the module docstring)."""
    n = x.shape[-1]
    w = hann(n)
    spectrum = np.fft.rfft(detrended(x) * w, axis=-1)
    power = 4.0 * np.abs(spectrum) ** 2 / (n * float((w * w).sum()))
    freqs = np.fft.rfftfreq(n, step_s)
    return np.asarray(freqs, dtype=np.float64), np.asarray(power, dtype=np.float64)


def band_amplitudes(x: FloatArray, step_s: float, bands: tuple[Band, ...]) -> FloatArray:
    """Amplitude per band (same unit as ``x``): shape ``x.shape[:-1] + (len(bands),)``."""
    freqs, power = power_spectrum(x, step_s)
    nyquist = 0.5 / step_s
    bin_hz = 1.0 / (x.shape[-1] * step_s)
    k = np.arange(len(freqs))
    out = np.empty((*x.shape[:-1], len(bands)))
    for i, band in enumerate(bands):
        # bins of the band, and one beyond each edge (a tone on an edge is read whole)
        lo = math.ceil(band.lo_hz / bin_hz - 1e-9) - 1
        hi = math.floor(band.hi_hz / bin_hz + 1e-9) + 1
        inside = (k >= max(1, lo)) & (k <= hi)
        if band.lo_hz > nyquist or not inside.any():
            out[..., i] = np.nan
            continue
        out[..., i] = np.sqrt(power[..., inside].sum(axis=-1))
    return out


def dominant(
    x: FloatArray, step_s: float, min_hz: float | None = None
) -> tuple[FloatArray, FloatArray]:
    """(frequency in Hz, amplitude) of the strongest component at or above ``min_hz``
    (default: two periods in the window), per row; the amplitude is that of a tone at
    the peak (its bin and the two beside it, as :func:`band_amplitudes` would read a
    narrow band around it)."""
    n = x.shape[-1]
    freqs, power = power_spectrum(x, step_s)
    floor = 2.0 / (n * step_s) if min_hz is None else min_hz
    usable = freqs >= floor
    if usable.sum() < 1:
        nan = np.full(x.shape[:-1], np.nan)
        return nan, nan
    first = int(np.argmax(usable))
    peak = first + np.argmax(power[..., usable], axis=-1)
    bin_hz = 1.0 / (n * step_s)
    left = np.take_along_axis(power, np.maximum(peak - 1, 0)[..., None], -1)[..., 0]
    mid = np.take_along_axis(power, peak[..., None], -1)[..., 0]
    right = np.take_along_axis(power, np.minimum(peak + 1, len(freqs) - 1)[..., None], -1)[..., 0]
    offset = _vertex(np.log(left + 1e-300), np.log(mid + 1e-300), np.log(right + 1e-300))
    amplitude = np.sqrt(left + mid + right)
    hz = np.where(np.isnan(amplitude), np.nan, (peak + offset) * bin_hz)
    return np.asarray(hz, dtype=np.float64), np.asarray(amplitude, dtype=np.float64)


def _vertex(a: FloatArray, b: FloatArray, c: FloatArray) -> FloatArray:
    """Offset (bins, within +-0.5) of the vertex of the parabola through (-1, a), (0, b),
    (1, c): 0 where the three are flat (a NaN window or a lone bin)."""
    denom = a - 2 * b + c
    with np.errstate(invalid="ignore", divide="ignore"):
        offset = np.where(denom < 0, 0.5 * (a - c) / denom, 0.0)
    return np.asarray(np.clip(np.nan_to_num(offset), -0.5, 0.5), dtype=np.float64)
