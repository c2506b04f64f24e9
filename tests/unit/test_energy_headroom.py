"""The headroom advisor against a brute-force count on synthetic histories."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.core.energy.headroom import fit_racks, headroom


def brute_force(domain: np.ndarray, profile: np.ndarray, cap: float, risk: float) -> int:
    """Add racks one by one while the share of minutes over the cap stays within risk."""
    k = 0
    while np.mean(domain + (k + 1) * profile > cap) <= risk:
        k += 1
        if k > 100_000:
            raise AssertionError("unbounded")
    return k


def synthetic(seed: int, minutes: int = 7 * 1440) -> tuple[np.ndarray, np.ndarray, float]:
    """A week of a domain with a daily wave and noise, a rack profile correlated with it."""
    rng = np.random.default_rng(seed)
    t = np.arange(minutes)
    wave = np.sin(2 * np.pi * t / 1440)
    domain = 30e6 + 4e6 * wave + rng.normal(0, 0.8e6, minutes)
    profile = np.clip(90e3 + 20e3 * wave + rng.normal(0, 8e3, minutes), 0, None)
    return domain, profile, 40e6


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("risk", [0.001, 0.01, 0.05])
def test_racks_that_fit_equal_the_brute_force_answer(seed: int, risk: float) -> None:
    domain, profile, cap = synthetic(seed)
    answer = headroom(domain, profile, cap, risk)
    assert answer.racks == brute_force(domain, profile, cap, risk)
    assert answer.exceed_share <= risk
    assert np.mean(domain + (answer.racks + 1) * profile > cap) > risk  # type: ignore[operator]


def test_exact_boundaries_and_edge_cases() -> None:
    domain = np.array([8.0, 9.0, 10.0, 7.0])
    profile = np.array([1.0, 0.5, 0.0, 1.5])
    # 10 W cap: minute 2 never exceeds (profile 0, at the cap); others fit 2, 2, 2 racks
    assert fit_racks(domain, profile, 10.0, 0.01) == brute_force(domain, profile, 10.0, 0.01) == 2
    assert fit_racks(domain, profile, 10.0, 0.25) == brute_force(domain, profile, 10.0, 0.25) == 2
    assert fit_racks(domain, np.zeros(4), 10.0, 0.01) is None  # nothing added ever exceeds
    over = np.array([11.0, 5.0])
    assert fit_racks(over, np.ones(2), 10.0, 0.01) == 0  # already over at some minute
    assert headroom(over, np.ones(2), 10.0, 0.6).racks == brute_force(over, np.ones(2), 10.0, 0.6)


def test_stranded_power_is_the_cap_above_the_risk_quantile() -> None:
    domain, profile, cap = synthetic(1)
    answer = headroom(domain, profile, cap, 0.001)
    assert answer.p999_w == pytest.approx(np.quantile(domain, 0.999))
    assert answer.stranded_w == pytest.approx(cap - np.quantile(domain, 0.999))
    assert answer.p99_w < answer.p999_w <= answer.peak_w < cap


def test_a_risk_outside_zero_and_one_is_refused() -> None:
    with pytest.raises(ValueError, match="risk must be a share"):
        headroom(np.ones(3), np.ones(3), 10.0, 1.5)
