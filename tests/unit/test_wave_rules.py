"""The wave rules one by one: power_ramp, power_oscillation, load_drop, fleet_load_drop and
dr_off_target against hand-made strides, incidents and trackers (what fires, what
resolves, and that an unknown window does neither)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.core.alert_book import AlertBook
from pipeline.core.policy import RuleConfig, SitePolicy
from pipeline.core.rules.dr_off_target import evaluate_off_target
from pipeline.core.rules.fleet_load_drop import evaluate_fleet
from pipeline.core.rules.load_drop import evaluate_drop
from pipeline.core.rules.power_oscillation import evaluate_oscillation
from pipeline.core.rules.power_ramp import evaluate_ramp
from pipeline.core.rules.scopes import DrLive, RegionDrops, WaveSubject
from pipeline.core.wave.dr import DrEvent, DrTerms, DrTracker
from pipeline.core.wave.drops import Drop
from pipeline.core.wave.features import DEFAULT_BANDS, WindowFeatures
from pipeline.core.wave.incidents import Incident
from pipeline.core.wave.reader import Stride
from pipeline.events import SiteSpec

NAN = float("nan")


def policy(**spec: object) -> SitePolicy:
    return SitePolicy.of(
        "s", SiteSpec.model_validate({"site": "s", "cap_mw": 100, **spec}), RuleConfig()
    )


def subject(
    ramp_w: float = 0.0,
    band_w: tuple[float, float] = (0.0, 0.0),
    domains: dict[str, tuple[float, float]] | None = None,
    drop: Drop | None = None,
) -> WaveSubject:
    domains = domains or {}
    rows = 1 + len(domains)
    bands = np.array([band_w, *domains.values()])
    features = WindowFeatures(
        end_ms=1000,
        mean_w=np.full(rows, 10e6),
        swing_w=np.zeros(rows),
        ramp_w=np.array([[ramp_w, ramp_w]] * rows),
        band_w=bands,
        dominant_hz=np.full(rows, 0.5),
        dominant_w=bands[:, 0],
    )
    stride = Stride(0, 1000, np.zeros((rows, 20)), np.zeros(20), features, ())
    return WaveSubject(stride, tuple(domains), DEFAULT_BANDS, (1.0, 10.0), drop)


def test_power_ramp_fires_over_the_limit_and_resolves_after_the_resolve_time() -> None:
    book, p = AlertBook("s"), policy(ramp_limit_mw_per_s=5)
    assert evaluate_ramp(book, subject(4e6), 0, p) == []
    (fired,) = evaluate_ramp(book, subject(6e6), 1000, p)
    assert fired.status.value == "firing" and fired.value == 6.0 and fired.threshold == 5
    assert "ramped 6.00 MW within 1 s, over its 5 MW/s limit" in fired.summary
    assert evaluate_ramp(book, subject(NAN), 2000, p) == []  # unknown: no resolve either
    assert evaluate_ramp(book, subject(1e6), 3000, p) == []  # under: resolving ...
    (resolved,) = evaluate_ramp(book, subject(1e6), 13_000, p)  # ... for 10 s
    assert resolved.status.value == "resolved"


def test_no_ramp_limit_judges_nothing() -> None:
    assert evaluate_ramp(AlertBook("s"), subject(1e9), 0, policy()) == []


def test_power_oscillation_fires_per_band_and_names_the_domains_that_swing_most() -> None:
    limits = [{"band_hz": [0.1, 2], "max_mw": 1.0}]
    p, book = policy(oscillation_limits=limits), AlertBook("s")
    domains = {"hall-1": (0.9e6, 0.0), "hall-2": (0.2e6, 0.0), "hall-3": (NAN, 0.0)}
    (fired,) = evaluate_oscillation(book, subject(band_w=(1.4e6, 5e6), domains=domains), 0, p)
    assert fired.value == 1.4 and fired.threshold == 1.0  # the 3-30 Hz band has no limit
    assert "oscillates by 1.40 MW in 0.1-2 Hz (14% of its 10.0 MW mean)" in fired.summary
    assert "dominant frequency 0.50 Hz; most from hall-1 (0.90 MW), hall-2 (0.20 MW)" in (
        fired.summary
    )
    assert evaluate_oscillation(book, subject(band_w=(NAN, 0.0)), 1000, p) == []
    assert evaluate_oscillation(book, subject(band_w=(0.5e6, 0.0)), 2000, p) == []
    (resolved,) = evaluate_oscillation(book, subject(band_w=(0.5e6, 0.0)), 12_000, p)
    assert resolved.status.value == "resolved"


def test_load_drop_fires_on_the_drop_and_resolves_after_the_hold() -> None:
    book, p = AlertBook("s"), policy()
    drop = Drop("s", 5000, 4000, 10e6, 6e6)
    assert evaluate_drop(book, subject(), 4000, p) == []
    (fired,) = evaluate_drop(book, subject(drop=drop), 6000, p)
    assert fired.rule == "load_drop" and fired.value == 0.4
    assert fired.summary == "site s lost 40% of its load: 10.00 MW -> 6.00 MW"
    assert evaluate_drop(book, subject(drop=drop), 64_000, p) == []
    (resolved,) = evaluate_drop(book, subject(drop=drop), 65_000, p)  # 60 s after it
    assert resolved.status.value == "resolved"


def test_fleet_load_drop_is_the_regions_with_its_timeline() -> None:
    drops = (Drop("a", 1000, 500, 5e6, 3e6, "east"), Drop("b", 1700, 1200, 4e6, 2e6, "east"))
    incident = Incident("east", drops)
    book, p = AlertBook("east"), policy()
    (fired,) = evaluate_fleet(book, RegionDrops("east", [incident], incident), 2000, p)
    assert fired.site == "east" and fired.value == 2
    assert fired.summary == (
        "region east: 2 sites lost 4.0 MW within 0.70 s: +0.00 s  a: 5.0 MW -> 3.0 MW (-40%); "
        "+0.70 s  b: 4.0 MW -> 2.0 MW (-50%)"
    )
    (resolved,) = evaluate_fleet(book, RegionDrops("east", [], incident), 61_000, p)
    assert resolved.status.value == "resolved"


@pytest.mark.parametrize("ended_at", [None, 150_000])
def test_dr_off_target_waits_for_the_grace_then_for_its_for(ended_at: int | None) -> None:
    event = DrEvent("e9", "s", 0, 200_000, ceiling_mw=1.0)
    tracker = DrTracker(event, DrTerms(tolerance=0.01, grace_s=60))
    book, p = AlertBook("s"), policy()

    def at(ms: int, mw: float, ended: bool = False) -> list:
        tracker.push(ms, 1000, np.array([mw * 1e6]), np.array([NAN]))
        return evaluate_off_target(book, DrLive(tracker, "site s", ended), ms + 1000, p)

    assert at(10_000, 2.0) == []  # above target within the grace: allowed
    for ms in range(11_000, 120_000, 1000):
        fired = at(ms, 2.0)
        if fired:
            break
    # above since 10 s, graced from 60 s, for 60 s more: fires at 120 s
    assert fired[0].status.value == "firing" and ms + 1000 == 120_000
    assert "above its demand-response target for event e9: 2.00 MW against 1.00 MW" in (
        fired[0].summary
    )
    (resolved,) = at(121_000, 2.0, ended=True) if ended_at else at(121_000, 0.9)
    assert resolved.status.value == "resolved"
