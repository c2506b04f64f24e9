"""Features of aligned site waveforms against numpy truth: swings found in the right band
with the right amplitude, noise that raises nothing, ramps equal to the step.

Meters send one event a second (20 samples at 50 ms, each meter with its own phase
offset) through :class:`pipeline.core.wave.site.WaveSite`, as the worker will. Truth is
computed here with ``numpy.linalg.lstsq`` (a sinusoid fitted at the known frequency) and
plain differences, never with the FFT path under test."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from pipeline.core.wave.align import AlignConfig
from pipeline.core.wave.features import FeatureConfig, max_change, read_window, swing
from pipeline.core.wave.site import WaveSettings, WaveSite, WaveTick
from pipeline.core.wave.spectrum import Band, band_amplitudes, dominant

T0 = 1_785_168_000_000
STEP = 50
BANDS = (Band(0.1, 2.0), Band(3.0, 30.0))

Signal = Callable[[np.ndarray], np.ndarray]  # time in s -> W of one meter


def settings(**features: object) -> WaveSettings:
    return WaveSettings(
        align=AlignConfig(step_ms=STEP, lateness_ms=500, hold_ms=5000),
        features=FeatureConfig(bands=BANDS, **features),  # type: ignore[arg-type]
    )


def run(
    signal: Signal, meters: int, seconds: int, noise: float = 0.0, seed: int = 0
) -> tuple[list[WaveTick], np.ndarray]:
    """Meters sampling ``signal`` at 20 Hz, each with its own ts offset (0-49 ms) and
    white noise of ``noise`` x its value; ticks after every second. Returns the ticks and
    the site's true series (the meters' samples summed sample by sample)."""
    rng = np.random.default_rng(seed)
    offsets = rng.integers(0, STEP, meters)
    site = WaveSite("s1", settings())
    truth = np.zeros(seconds * 20)
    ticks = []
    for second in range(seconds):
        for m in range(meters):
            t_ms = T0 + second * 1000 + offsets[m] + STEP * np.arange(20)
            clean = signal((t_ms - T0) / 1000)
            values = clean * (1 + noise * rng.standard_normal(20))
            truth[second * 20 : (second + 1) * 20] += values
            site.add(f"m{m}", int(t_ms[0]), STEP, values.tolist())
        tick = site.tick(T0 + (second + 1) * 1000 + 500)
        if tick is not None:
            ticks.append(tick)
    return ticks, truth


def fitted_amplitude(x: np.ndarray, hz: float) -> float:
    """numpy's amplitude of a sinusoid at ``hz`` in ``x`` (least squares, with offset and
    slope)."""
    t = np.arange(len(x)) * STEP / 1000
    design = np.column_stack(
        [np.cos(2 * np.pi * hz * t), np.sin(2 * np.pi * hz * t), np.ones_like(t), t]
    )
    coef, *_ = np.linalg.lstsq(design, x, rcond=None)
    return float(np.hypot(coef[0], coef[1]))


@pytest.mark.parametrize(("hz", "band"), [(0.5, 0), (3.0, 1)])
def test_a_20_percent_swing_is_found_in_its_band_within_10_s(hz: float, band: int) -> None:
    mean_w = 100_000.0

    def swing_20(t: np.ndarray) -> np.ndarray:
        return mean_w * (1 + 0.2 * np.sin(2 * np.pi * hz * t + 0.4))

    ticks, truth = run(swing_20, meters=40, seconds=10, noise=0.005)
    last = ticks[-1]
    assert last.block.start_ms + STEP * len(last.block) == T0 + 10_000  # 10 s of data read
    site = 0
    amplitude = last.features.band_w[site]
    expected = fitted_amplitude(truth[-200:], hz)
    assert expected == pytest.approx(0.2 * 40 * mean_w, rel=0.05)  # the swing is +-20 %
    assert amplitude[band] == pytest.approx(expected, rel=0.05)
    assert amplitude[1 - band] < 0.05 * expected  # and not in the other band
    assert last.features.dominant_hz[site] == pytest.approx(hz, abs=0.05)
    assert last.features.mean_w[site] == pytest.approx(40 * mean_w, rel=0.01)
    relative = amplitude[band] / last.features.mean_w[site]
    assert relative == pytest.approx(0.2, rel=0.05)  # "20 % of the mean"


def test_steady_site_with_incoherent_noise_raises_no_band_over_an_hour() -> None:
    meters, mean_w, noise = 100, 100_000.0, 0.02
    ticks, _ = run(lambda t: np.full(len(t), mean_w), meters, seconds=3600, noise=noise, seed=9)
    bands = np.array([t.features.band_w[0] for t in ticks[10:]])  # full windows only
    site_mean = meters * mean_w
    assert len(bands) > 3500 and not np.isnan(bands).any()
    assert bands.max() < 0.01 * site_mean  # far below a 1 %-of-load limit
    # and what is there is the noise, as theory says: 4 B sigma^2 / N over B bins
    sigma = noise * mean_w * np.sqrt(meters)
    freqs = np.fft.rfftfreq(200, STEP / 1000)
    for i, band in enumerate(BANDS):
        bins = (
            (freqs > 0) & (freqs >= band.lo_hz - 0.1) & (freqs <= min(band.hi_hz, 10) + 0.1)
        ).sum()
        theory = 4 * bins * sigma**2 / 200
        assert np.mean(bands[:, i] ** 2) == pytest.approx(theory, rel=0.15)


@pytest.mark.parametrize("noise", [0.0, 0.003])
def test_a_30_percent_step_within_1_s_has_the_true_1_s_ramp(noise: float) -> None:
    mean_w = 50_000.0

    def step(t: np.ndarray) -> np.ndarray:
        return mean_w * (1 - 0.3 * np.clip(t - 12.0, 0.0, 1.0))  # 30 % down over 1 s at 12 s

    rng = np.random.default_rng(1)
    site = WaveSite("s1", settings())
    truth = np.zeros(20 * 20)
    ramps = []
    for second in range(20):
        for m in range(30):
            t_ms = T0 + second * 1000 + STEP * np.arange(20)  # on the grid: exact truth
            values = step((t_ms - T0) / 1000) * (1 + noise * rng.standard_normal(20))
            truth[second * 20 : (second + 1) * 20] += values
            site.add(f"m{m}", int(t_ms[0]), STEP, values.tolist())
        tick = site.tick(T0 + (second + 1) * 1000 + 500)
        if tick is not None:
            ramps.append(tick.features.ramp_w[0])
    one_s = np.abs(truth[20:] - truth[:-20]).max()
    ten_s = np.abs(truth[200:] - truth[:-200]).max()
    if noise == 0:
        assert one_s == pytest.approx(0.3 * 30 * mean_w)
    measured = np.nanmax(np.array(ramps), axis=0)
    assert measured[0] == pytest.approx(one_s, rel=1e-9 if noise == 0 else 0.01)
    assert measured[1] == pytest.approx(ten_s, rel=1e-9 if noise == 0 else 0.01)


# --- the functions, table by table -------------------------------------------------------
def test_max_change_reads_pairs_lag_apart_and_skips_unknown() -> None:
    x = np.array([1.0, 2.0, 4.0, np.nan, 1.0, 9.0])
    assert max_change(x, 1) == 8.0  # 1 -> 9
    assert max_change(x, 2) == 3.0  # 1 -> 4 and 4 -> 1 (pairs with NaN skipped)
    assert max_change(x, 3) == 5.0  # 4 -> 9
    assert max_change(x, 1, recent=2) == 8.0
    assert max_change(x, 4, recent=1) == 7.0  # only 2 -> 9
    assert np.isnan(max_change(x, 6))
    assert np.isnan(max_change(np.array([np.nan, 1.0]), 1))


def test_swing_is_peak_to_peak_and_unknown_with_a_gap() -> None:
    assert swing(np.array([[3.0, 1.0, 7.0], [1.0, np.nan, 2.0]])).tolist()[0] == 6.0
    assert np.isnan(swing(np.array([1.0, np.nan])))


def test_band_amplitude_is_the_tone_peak_amplitude_on_or_between_bins() -> None:
    t = np.arange(400) * 0.05  # 20 s window
    for hz in (0.5, 0.73, 1.234, 2.0, 3.0, 4.44, 9.0):
        for amplitude in (1.0, 250.0):
            x = 1000 + amplitude * np.sin(2 * np.pi * hz * t + 1.0) + 3.0 * t  # and a ramp
            got = band_amplitudes(x, 0.05, (Band(0.1, 2.0), Band(3.0, 30.0)))
            band = 0 if hz <= 2.0 else 1
            assert got[band] == pytest.approx(amplitude, rel=0.02), hz
            assert got[1 - band] < 0.02 * amplitude, hz


def test_two_tones_in_one_band_add_as_root_sum_square() -> None:
    t = np.arange(200) * 0.05
    x = 3 * np.sin(2 * np.pi * 0.5 * t) + 4 * np.sin(2 * np.pi * 1.5 * t)
    assert band_amplitudes(x, 0.05, (Band(0.1, 2.0),))[0] == pytest.approx(5.0, rel=0.01)


def test_bands_above_nyquist_and_windows_with_gaps_are_unknown() -> None:
    x = np.sin(np.arange(200) * 0.3)
    got = band_amplitudes(x, 0.05, (Band(12.0, 30.0), Band(3.0, 30.0)))
    assert np.isnan(got[0]) and not np.isnan(got[1])
    x[17] = np.nan
    assert np.isnan(band_amplitudes(x, 0.05, (Band(0.1, 2.0),))).all()
    hz, amplitude = dominant(x, 0.05)
    assert np.isnan(hz) and np.isnan(amplitude)


def test_dominant_frequency_between_bins() -> None:
    t = np.arange(200) * 0.05  # 0.1 Hz bins
    for hz in (0.3, 0.47, 1.234, 2.14, 4.28, 7.77):
        x = 50 * np.sin(2 * np.pi * hz * t) + np.sin(2 * np.pi * 0.8 * t)
        found, amplitude = dominant(x, 0.05)
        assert found == pytest.approx(hz, abs=0.01), hz
        assert amplitude == pytest.approx(50, rel=0.06), hz


def test_read_window_gives_site_and_domains_in_one_call() -> None:
    t = np.arange(400) * 0.05
    rows = np.vstack([100 + 10 * np.sin(2 * np.pi * 0.5 * t), 50 + 5 * np.sin(2 * np.pi * 4 * t)])
    features = read_window(rows, T0, STEP, FeatureConfig(bands=BANDS))
    assert features.band_w.shape == (2, 2) and features.ramp_w.shape == (2, 2)
    assert features.band_w[0, 0] == pytest.approx(10, rel=0.02)
    assert features.band_w[1, 1] == pytest.approx(5, rel=0.02)
    assert features.dominant_hz.tolist() == pytest.approx([0.5, 4.0], abs=0.01)
    assert features.swing_w.tolist() == pytest.approx(np.ptp(rows[:, -200:], axis=1).tolist())
