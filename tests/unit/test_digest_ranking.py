"""The digest's ranking rules: score = severity x duration x impact, table-tested."""

from __future__ import annotations

import math

import pytest

from pipeline.analytics.ranking import (
    Finding,
    duration_text,
    energy_text,
    mw_text,
    percent_text,
    rank,
)


def finding(
    kind: str, severity: str, duration_s: float, amount: float, subject: str = "x"
) -> Finding:
    return Finding(kind, severity, subject, "s", duration_s, amount, f"{kind} {subject}")


@pytest.mark.parametrize(
    ("kind", "severity", "duration_s", "amount", "score"),
    [
        # weight x hours x (1 + log2(1 + amount / reference))
        ("cap_breach", "critical", 3600, 5.0, 100 * 1 * 2),  # 5 MW = the reference: impact 2
        ("near_cap", "warning", 9 * 3600, 5.0, 10 * 9 * 2),
        ("cap_breach", "critical", 3600, 1000.0, 100 * (1 + math.log2(201))),  # 1 GW campus
        ("idle_energy", "info", 20 * 3600, 0.7, 1 * 20 * (1 + math.log2(8))),
        ("link_loss", "critical", 17 * 60, 3e6, 100 * (17 / 60) * 3),
        ("delivery_failures", "critical", 0, 1, 100 * (1 / 60) * 2),  # floor: one minute
        ("dead_letters", "info", 30, 0, 1 * (1 / 60) * 1),  # nothing affected: impact 1
        ("cap_growth", "warning", 3600, 5.0, 10 * 1 * 2),
    ],
)
def test_score(kind: str, severity: str, duration_s: float, amount: float, score: float) -> None:
    assert finding(kind, severity, duration_s, amount).score == pytest.approx(score)


def test_a_step_of_severity_outweighs_up_to_ten_times_the_duration() -> None:
    breach = finding("cap_breach", "critical", 3600, 5.0, "a")
    near = finding("near_cap", "warning", 9 * 3600, 5.0, "b")
    longer = finding("near_cap", "warning", 11 * 3600, 5.0, "c")
    assert rank([near, breach, longer]) == [longer, breach, near]


def test_rank_keeps_the_top_five_and_breaks_ties_by_kind_then_subject() -> None:
    same = [
        finding("dead_letters", "info", 60, 0, "z"),
        finding("idle_energy", "info", 60, 0, "b"),
        finding("idle_energy", "info", 60, 0, "a"),
    ]
    others = [finding("link_loss", "warning", 60 * n, 1e6, f"l{n}") for n in range(1, 5)]
    ranked = rank(same + others)
    assert [f.subject for f in ranked] == ["l4", "l3", "l2", "l1", "a"]
    assert [f.subject for f in rank(same, top=3)] == ["a", "b", "z"]


def test_unknown_kind_or_severity_is_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        finding("power_spike", "info", 1, 1)
    with pytest.raises(ValueError, match="severity"):
        finding("link_loss", "page", 1, 1)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (45, "45 s"),
        (59.6, "1 min"),
        (17 * 60, "17 min"),
        (3 * 3600 + 600, "3 h 10 min"),
        (25 * 3600, "25 h 00 min"),
    ],
)
def test_duration_text(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


@pytest.mark.parametrize(
    ("mwh", "text"),
    [
        (0.8, "0.8 MWh"),
        (12.46, "12.5 MWh"),
        (0.045, "45 kWh"),
        (0.000004, "4 Wh"),
    ],
)
def test_energy_text(mwh: float, text: str) -> None:
    assert energy_text(mwh) == text


@pytest.mark.parametrize(
    ("ratio", "text"),
    [
        (0.0002, "0.02 %"),
        (0.015, "1.5 %"),
        (0.000013, "0.0013 %"),
        (0.5, "50 %"),
        (0.00016667, "0.017 %"),
    ],
)
def test_percent_text(ratio: float, text: str) -> None:
    assert percent_text(ratio) == text


@pytest.mark.parametrize(
    ("mw", "text"),
    [
        (5.0, "5.0 MW"),
        (4.98, "4.98 MW"),
        (10.4, "10.4 MW"),
        (0.25, "0.25 MW"),
        (4.999, "5.0 MW"),
        (1200, "1200 MW"),
    ],
)
def test_mw_text(mw: float, text: str) -> None:
    assert mw_text(mw) == text
