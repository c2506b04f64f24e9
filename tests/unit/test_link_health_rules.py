"""The four link-health rules through the real Processor, against truth computed here:
each fires on the sample where its condition first holds (a BER ramp, flaps and an
outage, a pause storm, optics under the module's thresholds and drifting), with the
numbers of that moment, resolves when it is over, and stays quiet on healthy counters
of the same traffic. A site spec's own thresholds take over the worker's."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from pipeline.core.policy import RuleConfig
from pipeline.core.processor import Processor
from pipeline.events import Alert, LinkCounters, SiteSpec
from tests.unit.test_link_health import in_window

SITE = "fra-1"
T0 = 1_796_000_000_000
BITS_PER_S = 100_000_000_000  # a 100 Gb/s link


def counters(i: int, ts: int, link: str = "sw1-p3", **health: Any) -> LinkCounters:
    return LinkCounters(
        site=SITE,
        link=link,
        link_class="fabric",
        ts=ts,
        tx_packets=1000 * i,
        rx_packets=1000 * i,
        dropped_packets=0,
        **health,
    )


def run(
    samples: Iterator[LinkCounters],
    config: RuleConfig | None = None,
    spec: SiteSpec | None = None,
) -> list[tuple[int, Alert]]:
    """(sample index, alert) of every alert, one message a sample, evaluated at the
    sample's time; the site warms up on a first message a second earlier."""
    config = config or RuleConfig(stale_after_s=1)
    processor = Processor(config, {SITE: spec}.get, lambda site: None)
    out = []
    first = True
    for i, event in enumerate(samples):
        if first:
            processor.link([event], 0, 0, event.ts - 1_000)  # the worker meets the site
            first = False
        out += [(i, a) for a in processor.link([event], 0, i + 1, event.ts).alerts]
    return out


def brief(alerts: list[tuple[int, Alert]]) -> list[tuple[int, str, str, str]]:
    return [(i, a.rule, a.severity.value, a.status.value) for i, a in alerts]


def ramp(errors_per_s: Callable[[int], int], seconds: int, lost: Callable[[int], int]) -> Any:
    """A link at line rate with post-FEC errors and uncorrectable codewords per second."""
    errors = uncorrectable = 0
    for i in range(seconds):
        errors += errors_per_s(i)
        uncorrectable += lost(i)
        yield counters(
            i,
            T0 + i * 1000,
            rx_bits=BITS_PER_S * i,
            symbol_errors=errors,
            fec_uncorrectable_codewords=uncorrectable,
            fec_corrected_codewords=1000 * i,
        )


def test_link_ber_warns_on_the_sample_the_window_reaches_1e_10_and_is_critical_on_loss() -> None:
    config = RuleConfig(stale_after_s=1, ber_window_s=60, ber_resolve_for_s=10)
    per_s = [max(0, (i - 30) // 2) for i in range(400)]  # errors/s grows from second 30
    lost = [1 if i == 250 else 0 for i in range(400)]  # one uncorrectable codeword
    per_s[200:] = [0] * 200  # repaired at 200 s
    alerts = run(ramp(per_s.__getitem__, 400, lost.__getitem__), config)
    # truth: errors / bits over the window after each sample
    stamps = [T0 + i * 1000 for i in range(400)]
    deltas = [0, *per_s[1:]]  # the first sample is the baseline
    bits = [0, *[BITS_PER_S] * 399]
    ber = [_windowed(deltas, stamps, i) / max(1, _windowed(bits, stamps, i)) for i in range(400)]
    first_fire = next(i for i in range(400) if ber[i] >= 1e-10)
    fired = [(i, a) for i, a in alerts if a.status.value == "firing"]
    assert (fired[0][0], fired[0][1].rule, fired[0][1].severity.value) == (
        first_fire,
        "link_ber",
        "warning",
    )
    assert fired[0][1].value == pytest.approx(ber[first_fire]) and fired[0][1].threshold == 1e-10
    assert "post-FEC bit error rate" in fired[0][1].summary
    got = brief(alerts)
    assert (250, "link_ber", "critical", "firing") in got
    critical = next(a for i, a in alerts if a.severity.value == "critical")
    assert critical.value == 1 and "1 FEC codewords uncorrectable" in critical.summary
    # both resolve once the window is clean (the BER under its margin), after
    # ber_resolve_for_s: the warning when the errors of before 200 s left the window
    resolved = {g[2]: g[0] for g in got if g[3] == "resolved"}
    clean = next(i for i in range(200, 400) if ber[i] < 1e-10 * 0.98)
    none_lost = next(i for i in range(251, 400) if _windowed(lost, stamps, i) == 0)
    assert resolved == {"warning": clean + 10, "critical": none_lost + 10}


def _windowed(deltas: list[int], stamps: list[int], at: int, window_ms: int = 60_000) -> int:
    held = in_window(stamps[: at + 1], window_ms)
    return sum(d for d, h in zip(deltas[: at + 1], held, strict=True) if h)


def test_healthy_counters_raise_nothing() -> None:
    """Line rate, corrected codewords (the FEC at work), a BER of 1e-14, no pause, no
    flap, steady optics inside the module's thresholds."""
    config = RuleConfig(stale_after_s=1, optics_drift_window_s=3600)
    noise = np.random.default_rng(2).normal(0, 0.02, 4000)  # a module's reading noise, dB

    def healthy() -> Iterator[LinkCounters]:
        for i in range(4000):
            yield counters(
                i,
                T0 + i * 1000,
                rx_bits=BITS_PER_S * i,
                symbol_errors=i // 1000,
                fec_corrected_codewords=50_000 * i,
                fec_uncorrectable_codewords=0,
                carrier_transitions=2,
                carrier_up=True,
                rx_pause_us={3: 200 * i},  # 0.02 % of the time
                tx_pause_us={3: 0},
                pause_storm_errors=0,
                rx_power_dbm=[round(-2.1 + noise[i], 3), -2.4],
                rx_power_low_warn_dbm=-10.0,
                rx_power_low_alarm_dbm=-13.0,
                rx_power_high_warn_dbm=3.0,
            )

    assert run(healthy(), config) == []


def test_link_flap_warns_on_the_second_transition_and_an_outage_is_critical_at_30_s() -> None:
    config = RuleConfig(stale_after_s=1, flap_window_s=120, flap_resolve_for_s=5)
    states = [True] * 10 + [False] * 3 + [True] * 10 + [False] * 40 + [True] * 200

    def flapping() -> Iterator[LinkCounters]:
        changes = 6  # what the kernel counted before: a baseline
        for i, up in enumerate(states):
            changes += i > 0 and up != states[i - 1]
            yield counters(i, T0 + i * 1000, carrier_transitions=changes, carrier_up=up)

    got = brief(run(flapping(), config))
    # transitions at 10 (down) and 13 (up): the second one warns; the outage from 23 is
    # 30 s old at 53; up again at 63; the flaps leave the 120 s window at 133 and 143
    assert got[:2] == [
        (13, "link_flap", "warning", "firing"),
        (53, "link_flap", "critical", "firing"),
    ]
    assert (68, "link_flap", "critical", "resolved") in got
    resolved = [g for g in got if g[2] == "warning" and g[3] == "resolved"]
    assert len(resolved) == 1 and resolved[0][0] > 143


def test_pfc_storm_fires_on_the_pause_share_and_the_nics_storm_events() -> None:
    config = RuleConfig(stale_after_s=1, pfc_window_s=60)
    share = [0.01] * 60 + [0.35] * 120 + [0.01] * 200  # a storm from 60 s to 180 s
    storm_errors = [0] * 150 + [1] * 230  # the NIC gave up at 150 s

    def storm() -> Iterator[LinkCounters]:
        paused = 0
        for i in range(len(share)):
            paused += int(share[i] * 1_000_000) if i else 0
            yield counters(
                i,
                T0 + i * 1000,
                rx_pause_us={3: paused, 0: 0},
                pause_storm_errors=storm_errors[i],
            )

    alerts = run(storm(), config)
    stamps = [T0 + i * 1000 for i in range(len(share))]
    us = [0] + [int(s * 1_000_000) for s in share[1:]]
    elapsed = [0] + [1000] * (len(share) - 1)
    first = next(
        i
        for i in range(len(share))
        if _windowed(elapsed, stamps, i) >= 30_000
        and _windowed(us, stamps, i) / (_windowed(elapsed, stamps, i) * 1000) >= 0.2
    )
    got = brief(alerts)
    assert got[0] == (first, "pfc_storm", "warning", "firing")
    warning = alerts[0][1]
    truth = _windowed(us, stamps, first) / (_windowed(elapsed, stamps, first) * 1000)
    assert warning.value == pytest.approx(truth)
    assert "priority 3 paused by its peer" in warning.summary
    assert (150, "pfc_storm", "critical", "firing") in got
    critical = next(a for _, a in alerts if a.severity.value == "critical")
    assert "gave up pausing 1 times" in critical.summary


def test_optics_under_the_modules_thresholds_and_falling() -> None:
    """One lane falls 30 dB a day: it drifts, then crosses the module's low warning and
    alarm thresholds; a site's own drift threshold takes over the worker's."""
    config = RuleConfig(stale_after_s=1, optics_drift_window_s=3600)
    n = 14_400

    def fading() -> Iterator[LinkCounters]:
        for i in range(0, n, 10):
            lane = -9.0 - 30.0 * i / 86_400  # -9 dBm to -14 dBm in 4 h
            yield counters(
                i,
                T0 + i * 1000,
                rx_power_dbm=[-2.0, round(lane, 3)],
                rx_power_low_warn_dbm=-10.0,
                rx_power_low_alarm_dbm=-13.0,
            )

    got = brief(run(fading(), config))
    # 10 s a sample: index k is second 10k; the lane is under -10 dBm from 2890 s
    assert (289, "optics_rx_power", "warning", "firing") in got
    assert (1153, "optics_rx_power", "critical", "firing") in got  # under -13 from 11530 s
    drift = [g for g in got if g[1] == "optics_drift"]
    assert drift[0] == (180, "optics_drift", "warning", "firing")  # judged from 1800 s on
    spec = SiteSpec(site=SITE, cap_mw=1, optics_drift_db={"fabric": 40.0})
    assert not [g for g in brief(run(fading(), config, spec)) if g[1] == "optics_drift"]
