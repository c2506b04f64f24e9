"""The link-health state against truth computed here: counter deltas with resets of each
counter on its own, window sums by the window's definition, the PFC share, and the rx
power trend against numpy's least squares."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from pipeline.core.link_health import HEALTH_FIELDS, LinkHealth, Windows
from pipeline.core.link_window import BUCKETS, WindowSums
from pipeline.core.optics import Optics, Thresholds

WINDOWS = Windows(ber_ms=60_000, flap_ms=60_000, pfc_ms=60_000, drift_ms=3_600_000)


def sample(**fields: Any) -> tuple[Any, ...]:
    unknown = set(fields) - set(HEALTH_FIELDS)
    assert not unknown, unknown
    return tuple(fields.get(name) for name in HEALTH_FIELDS)


def in_window(stamps: list[int], window_ms: int) -> list[bool]:
    """Which samples the window holds, by its definition: those whose bucket ends
    inside the last ``window_ms`` before the newest sample."""
    bucket = -(-window_ms // (BUCKETS - 1))
    newest = max(stamps)
    return [ts - ts % bucket + bucket > newest - window_ms for ts in stamps]


def test_window_sums_are_the_sums_of_the_buckets_in_the_window() -> None:
    rng = random.Random(3)
    window = WindowSums(60_000, 2)
    stamps, values = [], []
    ts = 1_796_000_000_000
    for _ in range(400):
        ts += rng.randint(100, 2_500)
        pair = (rng.randint(0, 1000), rng.random())
        window.add(ts, pair)
        stamps.append(ts)
        values.append(pair)
        held = in_window(stamps, 60_000)
        truth = [sum(v[i] for v, h in zip(values, held, strict=True) if h) for i in range(2)]
        assert window.sums() == pytest.approx(truth, rel=1e-12)


def test_each_counter_resets_on_its_own_and_an_absence_is_a_new_baseline() -> None:
    health = LinkHealth(WINDOWS)
    t = 1_796_000_000_000
    rows = [
        health.observe(t, sample(symbol_errors=10, rx_bits=1000, fec_corrected_codewords=5)),
        health.observe(t + 1000, sample(symbol_errors=15, rx_bits=3000, fec_corrected_codewords=9)),
        # the NIC's statistics reset (driver reload); the bit counter did not
        health.observe(t + 2000, sample(symbol_errors=2, rx_bits=4000, fec_corrected_codewords=1)),
        health.observe(t + 3000, sample(symbol_errors=3, rx_bits=5000)),  # corrected absent
        health.observe(t + 4000, sample(symbol_errors=4, rx_bits=6000, fec_corrected_codewords=50)),
        health.observe(t + 4000, sample(symbol_errors=99, rx_bits=10**9)),  # a repeat: nothing
        health.observe(t + 5000, sample(symbol_errors=5, rx_bits=7000, fec_corrected_codewords=52)),
    ]
    assert [r.d_symbol_errors for r in rows] == [0, 5, 0, 1, 1, 0, 1]
    assert [r.d_rx_bits for r in rows] == [0, 2000, 1000, 1000, 1000, 0, 1000]
    assert [r.d_fec_corrected for r in rows] == [0, 4, 0, 0, 0, 0, 2]
    assert health.resets == 2  # symbol errors and corrected codewords went down
    errors, bits, _, corrected = health.ber_counts()
    assert (errors, bits, corrected) == (8, 6000, 6)
    assert health.ber() == 8 / 6000


def test_pause_share_is_pause_time_over_time_covered_per_priority_and_direction() -> None:
    rng = random.Random(11)
    health = LinkHealth(WINDOWS)
    t = 1_796_000_000_000
    rx = {3: 0, 4: 0}
    tx = {3: 0}
    stamps, pauses, elapsed = [], [], []
    last = None
    for _ in range(300):
        t += rng.randint(500, 1500)
        step = {3: rng.randint(0, 400_000), 4: rng.randint(0, 50_000)}
        rx = {p: rx[p] + step[p] for p in rx}
        tx = {3: tx[3] + rng.randint(0, 10_000)}
        health.observe(t, sample(rx_pause_us=dict(rx), tx_pause_us=dict(tx)))
        stamps.append(t)
        pauses.append(step[3] if last is not None else 0)
        elapsed.append(t - last if last is not None else 0)
        last = t
    held = in_window(stamps, WINDOWS.pfc_ms)
    covered = sum(e for e, h in zip(elapsed, held, strict=True) if h)
    paused = sum(p for p, h in zip(pauses, held, strict=True) if h)
    pause = health.pause()
    assert pause is not None
    assert (pause.priority, pause.direction) == (3, "rx")
    assert pause.covered_ms == covered
    assert pause.share == pytest.approx(paused / (covered * 1000), rel=1e-12)


def test_transitions_come_from_the_carrier_count_else_twice_the_link_downs() -> None:
    counted, downs = LinkHealth(WINDOWS), LinkHealth(WINDOWS)
    t = 1_796_000_000_000
    for i, (changes, down_events) in enumerate([(4, 1), (6, 2), (7, 2), (7, 3)]):
        counted.observe(t + i * 1000, sample(carrier_transitions=changes, link_down_events=1))
        downs.observe(t + i * 1000, sample(link_down_events=down_events))
    assert counted.flaps.sums() == [3.0]
    assert downs.flaps.sums() == [4.0]


def test_an_outage_is_measured_in_event_time_from_the_first_sample_down() -> None:
    health = LinkHealth(WINDOWS)
    t = 1_796_000_000_000
    for i, up in enumerate([True, False, None, False, False]):
        health.observe(t + i * 10_000, sample(carrier_up=up))
    assert health.outage_ms() == 30_000
    health.observe(t + 50_000, sample(carrier_up=True))
    assert health.outage_ms() == 0


def test_the_rx_power_trend_is_least_squares_per_lane() -> None:
    """Noisy lanes, one falling 2.4 dB a day: the trend of each lane is numpy's
    least-squares slope over the samples in the window; the falling lane is the worst."""
    rng = np.random.default_rng(5)
    optics = Optics(window_ms=3_600_000)
    t0 = 1_796_000_000_000
    stamps = t0 + np.cumsum(rng.integers(5_000, 30_000, size=400))
    slopes = np.array([0.1, -2.4, 0.0, 0.3])  # dB per day
    powers = -3.0 + np.outer((stamps - t0) / 86_400_000, slopes) + rng.normal(0, 0.05, (400, 4))
    assert optics.drift() is None
    for ts, lanes in zip(stamps, powers, strict=True):
        optics.observe(int(ts), [float(p) for p in lanes], Thresholds())
    held = np.array(in_window([int(t) for t in stamps], 3_600_000))
    days = (stamps[held] - t0) / 86_400_000
    truth = [np.polyfit(days, powers[held][:, lane], 1)[0] for lane in range(4)]
    drift = optics.drift()
    assert drift is not None and drift.lane == 1
    assert drift.db_per_day == pytest.approx(truth[1], rel=1e-6)
    assert optics.weakest() == (int(np.argmin(powers[-1])), float(min(powers[-1])))


def test_no_trend_before_the_samples_span_half_the_window() -> None:
    optics = Optics(window_ms=3_600_000)
    t0 = 1_796_000_000_000
    for i in range(60):  # 29.5 minutes of falling power, a sample every 30 s
        optics.observe(t0 + i * 30_000, [-3.0 - i * 0.01], Thresholds(low_warn=-10.0))
    assert optics.drift() is None  # under half an hour: half the window
    optics.observe(t0 + 60 * 30_000, [-3.6], Thresholds())
    assert optics.drift() is not None
    assert optics.thresholds == Thresholds(low_warn=-10.0)  # kept when a sample has none


def test_a_priority_that_goes_missing_is_a_new_baseline_when_it_comes_back() -> None:
    health = LinkHealth(WINDOWS)
    t = 1_796_000_000_000
    rows = [
        health.observe(t, sample(rx_pause_us={3: 100, 4: 10})),
        health.observe(t + 1000, sample(rx_pause_us={3: 300, 4: 15})),
        health.observe(t + 2000, sample(rx_pause_us={3: 350})),  # priority 4 not sent
        health.observe(t + 3000, sample(rx_pause_us={3: 400, 4: 900})),  # back: baseline
        health.observe(t + 4000, sample(rx_pause_us={3: 410, 4: 950})),
    ]
    assert [r.d_rx_pause_us for r in rows] == [
        {3: 0, 4: 0},
        {3: 200, 4: 5},
        {3: 50},
        {3: 50, 4: 0},
        {3: 10, 4: 50},
    ]
