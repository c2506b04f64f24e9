"""Demand response measured against injected truth: a simulated site curtails on request;
time to target, compliance and MWh curtailed against a high-5-of-10 baseline must equal
what the simulator was told to do (truth computed here with numpy)."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

import numpy as np
import pytest

from pipeline.core.wave.align import AlignConfig
from pipeline.core.wave.baseline import (
    BaselineMethod,
    adjusted,
    average_of,
    comparable_days,
    expand,
    high_x_of_y,
)
from pipeline.core.wave.dr import DrEvent, DrTerms, DrTracker, evaluate
from pipeline.core.wave.site import WaveSettings, WaveSite
from pipeline.sources.sim.wave_site import SiteWaves, WaveSiteSpec, wave_events
from pipeline.sources.sim.waveform import Curtailment, TrainingJob

T0 = 1_785_168_000_000  # a Monday, 16:00 UTC
STEP = 50
EVENT_DAY = date(2026, 7, 27)


def test_dr_time_to_target_compliance_and_mwh_equal_the_injected_truth() -> None:
    start_s, end_s, slip = 60.0, 660.0, (300.0, 330.0)
    cut = Curtailment(start_s, end_s, reduction=0.3, ramp_s=30.0, slips=(slip,))
    steady = TrainingJob(start_s=-600, swing_frac=0.0, checkpoint_period_s=None)
    spec = WaveSiteSpec("dr-1", tuple(f"r{i}" for i in range(60)), job=steady, curtailment=cut)
    waves = SiteWaves(spec)
    seconds = 720
    clean = np.concatenate(
        [
            waves.power(second + STEP * np.arange(20) / 1000, noise=False).sum(0)
            for second in range(seconds)
        ]
    )
    p0 = clean[0]

    # ten prior weekdays at the same hours, +-3 % from day to day, one of them an event day
    rng = np.random.default_rng(2)
    days = [EVENT_DAY - timedelta(days=d) for d in range(1, 16)]
    profiles = {d: np.full(12, p0 * (1 + rng.uniform(-0.03, 0.03))) for d in days}  # 12 x 1 min
    excluded = {days[2]}
    weekdays = [d for d in days if d.weekday() < 5 and d not in excluded][:10]
    top5 = sorted(weekdays, key=lambda d: -profiles[d][0])[:5]
    truth_baseline = float(np.mean([profiles[d][0] for d in top5]))
    baseline = high_x_of_y(profiles, EVENT_DAY, BaselineMethod(5, 10), excluded)
    assert baseline.profile_w.tolist() == pytest.approx([truth_baseline] * 12)

    event = DrEvent(
        "util-77", "dr-1", T0 + int(start_s * 1000), T0 + int(end_s * 1000), reduction_pct=25
    )
    terms = DrTerms(tolerance=0.01, grace_s=60.0)
    tracker = DrTracker(event, terms)
    site = WaveSite("dr-1", WaveSettings(align=AlignConfig(step_ms=STEP, lateness_ms=500)))
    for second in range(seconds):
        t = second + STEP * np.arange(20) / 1000
        for e in wave_events("dr-1", spec.racks, T0 + second * 1000, STEP, waves.power(t)):
            site.add(e["rack"], e["ts"], e["interval_ms"], e["power_w"])
        tick = site.tick(T0 + (second + 1) * 1000 + 500)
        if tick is not None:
            b = tick.block
            base = expand(baseline.profile_w, T0, 60_000, b.start_ms, STEP, len(b))
            tracker.push(b.start_ms, STEP, b.site_series(), base)
    result = tracker.result()

    # truth: the injected profile, p0 scaled by the curtailment, against 0.75 x baseline
    target = 0.75 * truth_baseline
    t = np.arange(seconds * 20) * STEP / 1000
    inside = (t >= start_s) & (t < end_s)
    crossing = start_s + (1 - target * 1.01 / p0) / 0.3 * 30.0  # the linear ramp meets it
    on = clean <= target * 1.01
    graced = inside & (t >= start_s + terms.grace_s)
    truth_compliance = 100 * (on & graced).sum() / graced.sum()
    assert truth_compliance == pytest.approx(100 * (1 - 30 / 540), abs=0.01)  # the slip
    truth_mwh = ((truth_baseline - clean[inside]).sum() * STEP / 1000) / 3.6e9

    assert tracker.time_to_target_s == pytest.approx(crossing - start_s, abs=0.1)
    assert result.compliance_pct == pytest.approx(truth_compliance, abs=0.05)
    assert result.curtailed_mwh == pytest.approx(truth_mwh, rel=0.01)
    assert result.coverage == 1.0
    assert result.requested_mwh == pytest.approx(0.25 * truth_baseline * 600 / 3.6e9, rel=1e-6)
    assert result.delivered_pct == pytest.approx(100 * truth_mwh / result.requested_mwh, rel=0.01)


# --- the DR tracker -----------------------------------------------------------------------
def test_targets_from_a_ceiling_or_a_reduction() -> None:
    base = np.array([100e6, 80e6])
    assert DrEvent("e", "s", 0, 1, ceiling_mw=70).target_w(base).tolist() == [70e6, 70e6]
    assert DrEvent("e", "s", 0, 1, reduction_pct=25).target_w(base).tolist() == [75e6, 60e6]


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({}, "either ceiling_mw or reduction_pct"),
        ({"ceiling_mw": 5, "reduction_pct": 10}, "either ceiling_mw or reduction_pct"),
        ({"reduction_pct": 100}, r"reduction_pct must be in \(0, 100\)"),
        ({"ceiling_mw": -1}, "ceiling_mw must be >= 0"),
    ],
)
def test_bad_events_are_refused_with_one_line(kwargs: dict[str, float], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        DrEvent("e1", "s", 0, 1000, **kwargs)
    with pytest.raises(ValueError, match="end must be after start"):
        DrEvent("e1", "s", 1000, 1000, ceiling_mw=1)


def test_a_hand_computed_event() -> None:
    # 10 cells of 1 s from t=0; event over cells 2..7; ceiling 50 W; grace 2 s
    actual = np.array([80, 80, 70, 55, 50.4, 40, np.nan, 60, 30, 30], dtype=float)
    event = DrEvent("e", "s", 2000, 8000, ceiling_mw=50e-6)
    result = evaluate(event, 0, 1000, actual, np.full(10, 80.0), DrTerms(tolerance=0.01, grace_s=2))
    assert result.reached_ms == 4000  # 50.4 <= 50 x 1.01
    # after the grace (cells 4..7): 50.4 on, 40 on, unknown, 60 off -> 2 of 3
    assert result.compliance_pct == pytest.approx(200 / 3)
    assert result.coverage == pytest.approx(5 / 6)
    assert result.actual_mwh == pytest.approx((70 + 55 + 50.4 + 40 + 60) / 3.6e9)
    assert result.baseline_mwh == pytest.approx(5 * 80 / 3.6e9)
    assert result.target_mwh == pytest.approx(5 * 50 / 3.6e9)


def test_streaming_equals_one_block_and_tracks_the_run_above_target() -> None:
    rng = np.random.default_rng(0)
    actual = 1e6 * (1 + 0.1 * rng.standard_normal(500))
    actual[rng.integers(0, 500, 20)] = np.nan
    baseline = np.full(500, 1.1e6)
    event = DrEvent("e", "s", T0 + 1000, T0 + 20_000, reduction_pct=10)
    whole = evaluate(event, T0, STEP, actual, baseline)
    tracker = DrTracker(event)
    cuts = [0, 7, 100, 101, 250, 499, 500]
    for a, b in pairwise(cuts):
        tracker.push(T0 + a * STEP, STEP, actual[a:b], baseline[a:b])
    streamed = tracker.result()
    assert (streamed.reached_ms, streamed.compliance_pct, streamed.coverage) == (
        whole.reached_ms,
        whole.compliance_pct,
        whole.coverage,
    )
    for name in ("actual_mwh", "baseline_mwh", "target_mwh"):  # summed in another order
        assert getattr(streamed, name) == pytest.approx(getattr(whole, name), rel=1e-12)
    # since when above target: the cell after the last on-target known cell
    target = 0.9 * 1.1e6 * 1.01
    times = T0 + STEP * np.arange(500)
    known = ~np.isnan(actual) & (times >= event.start_ms) & (times < event.end_ms)
    on = np.flatnonzero(known & (actual <= target))
    after = np.flatnonzero(known)[np.flatnonzero(known) > on[-1]]
    expected = None if not len(after) else int(times[after[0]])
    assert tracker.above_since_ms == expected


# --- baselines ----------------------------------------------------------------------------
def test_comparable_days_are_recent_same_type_and_not_events() -> None:
    days = [EVENT_DAY - timedelta(days=d) for d in range(0, 20)]
    method = BaselineMethod(2, 4)
    picked = comparable_days(EVENT_DAY, days, method, excluded={EVENT_DAY - timedelta(days=1)})
    assert picked == [date(2026, 7, 24), date(2026, 7, 23), date(2026, 7, 22), date(2026, 7, 21)]
    weekend = comparable_days(date(2026, 7, 26), days, method)
    assert all(d.weekday() >= 5 for d in weekend) and len(weekend) == 4
    every = comparable_days(EVENT_DAY, days, BaselineMethod(2, 3, same_day_type=False))
    assert every == [date(2026, 7, 26), date(2026, 7, 25), date(2026, 7, 24)]


def test_high_x_of_y_averages_the_highest_days_and_skips_incomplete_ones() -> None:
    days = [EVENT_DAY - timedelta(days=d) for d in (3, 1, 4, 5, 7)]  # Fri, Sun, Thu, Wed, Mon
    loads = {days[0]: 5.0, days[1]: 9.0, days[2]: 7.0, days[3]: 8.0, days[4]: 6.0}
    profiles = {d: np.array([v, v + 1]) for d, v in loads.items()}
    profiles[days[1]] = np.array([9.0, np.nan])  # missing data: not comparable
    result = high_x_of_y(profiles, EVENT_DAY, BaselineMethod(2, 4))
    assert result.days == (days[2], days[3])  # 7 and 8 of the complete 5, 7, 8, 6
    assert result.profile_w.tolist() == [7.5, 8.5]
    with pytest.raises(ValueError, match="only 1 comparable days"):
        high_x_of_y({days[2]: np.array([1.0])}, EVENT_DAY, BaselineMethod(2, 4))


def test_day_of_adjustment_is_capped() -> None:
    profiles = {
        date(2026, 7, 20): np.array([10.0, 10.0]),
        date(2026, 7, 21): np.array([12.0, 12.0]),
    }
    base = high_x_of_y(profiles, EVENT_DAY, BaselineMethod(2, 2))
    before = average_of(profiles, base.days)
    assert adjusted(base, before, np.array([12.0, 12.0])).tolist() == [12.0, 12.0]  # +1
    assert adjusted(base, before, np.array([30.0, 30.0])).tolist() == [13.2, 13.2]  # +20 % cap
    assert str(base.method) == "high 2 of 2 same-type days, day-of adjustment capped at 20%"


def test_expand_puts_a_profile_on_the_grid() -> None:
    out = expand(np.array([1.0, 2.0]), 1000, 100, 950, 50, 6)
    assert np.isnan(out[0]) and out[1:5].tolist() == [1.0, 1.0, 2.0, 2.0] and np.isnan(out[5])
