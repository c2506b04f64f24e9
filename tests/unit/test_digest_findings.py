"""The digest on crafted histories: which findings come out, in which order, in what words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.analytics.digest import DigestInputs, LossThresholds, build_digest
from pipeline.analytics.findings import (
    IdleRack,
    LinkMinute,
    PowerPoint,
    SiteTime,
    cap_findings,
    idle_findings,
    loss_findings,
    site_growth,
)
from pipeline.analytics.findings_pipeline import (
    DeadLetterGroup,
    DeliveryTrouble,
    dead_letter_findings,
)

END = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
START = END - timedelta(days=1)
THRESHOLDS = LossThresholds(warn={"wan": 1e-5, "fabric": 1e-6}, crit={"wan": 1e-4, "fabric": 1e-5})


def rising(site: str, start_mw: float, mw_per_day: float, cap: float | None) -> list[PowerPoint]:
    """Half-hourly averages on a straight line over the window (48 points)."""
    return [
        PowerPoint(
            site, START + timedelta(minutes=30 * i), start_mw + mw_per_day * (30 * i) / 1440, cap
        )
        for i in range(48)
    ]


def lossy_link(
    link: str,
    start: datetime,
    minutes: int,
    tx: int,
    dropped: int,
    peer: str = "wis-1",
    site: str = "atl-2",
) -> list[LinkMinute]:
    return [
        LinkMinute(site, link, "wan", peer, start + timedelta(minutes=i), tx, dropped)
        for i in range(minutes)
    ]


def operator_day() -> DigestInputs:
    at_14 = END.replace(hour=14, minute=2) - timedelta(days=1)  # yesterday 14:02
    quiet = [LinkMinute("atl-2", "atl-wis-1", "wan", "wis-1", END - timedelta(hours=2), 10**6, 0)]
    return DigestInputs(
        start=START,
        end=END,
        site_times=[
            SiteTime("atl-2", 5.0, 0.95, 4.98, warn_s=3 * 3600 + 600, cap_s=0),
            SiteTime("fra-1", 10.0, 0.9, 10.4, warn_s=3600, cap_s=300),
            SiteTime("ord-1", 5.0, 0.9, 4.0, warn_s=0, cap_s=0),
            SiteTime("sea-1", None, None, 1.0, warn_s=0, cap_s=0),
        ],
        # atl-2 ends the day at about 4.6 MW, +0.1 MW/day: 0.4 MW to go -> Dec 4;
        # ord-1 at about 4.0 MW, +0.05 MW/day: 20 days -> growth finding (info)
        power=rising("atl-2", 4.5, 0.1, 5.0) + rising("ord-1", 3.95, 0.05, 5.0),
        link_minutes=lossy_link("atl-wis-1", at_14, 17, 10**6, 200) + quiet,
        idle_racks=[IdleRack("ord-1", "r12", 0.8, 160.0, 8)],
        deliveries=[
            DeliveryTrouble(
                "slack",
                "failed",
                1,
                END - timedelta(hours=3),
                END - timedelta(hours=3),
                "HTTP 400: invalid_token",
            )
        ],
        dead_letters=[
            DeadLetterGroup(
                "telemetry.gpu", "invalid", 12, END - timedelta(hours=5), END - timedelta(hours=3)
            )
        ],
    )


def test_operator_day_top_five_in_order() -> None:
    digest = build_digest(operator_day(), THRESHOLDS)
    # scores: link 100 x 17/60 h x (1+log2(18)) = 146; idle 1 x 20 h x (1+log2(9)) = 83;
    # atl-2 near cap 10 x 3.17 h x 2 = 63; fra-1 over cap 100 x 5/60 h x (1+log2(3)) = 22;
    # slack 100 x 1/60 h x 2 = 3.3; then (cut) dead letters 2 x 1.16 = 2.3, ord-1 growth 2
    assert [(f.kind, f.subject) for f in digest.findings] == [
        ("link_loss", "link atl-wis-1"),
        ("idle_energy", "site ord-1 idle GPUs"),
        ("near_cap", "site atl-2"),
        ("cap_breach", "site fra-1"),
        ("delivery_failures", "receiver slack/failed"),
    ]
    assert digest.candidates == 7
    assert [round(f.score) for f in digest.findings] == [146, 83, 63, 22, 3]
    assert digest.text().splitlines() == [
        "megawatch digest for the fleet, 2026-11-29 08:00 - 2026-11-30 08:00 UTC: "
        "top 5 of 7 findings",
        "1. [critical] WAN link atl-wis-1 (atl-2 to wis-1) dropped 0.02 % of packets "
        "during Nov 29 14:02-14:19",
        "2. [info] rack r12 at ord-1 burned 0.8 MWh with GPUs under 5 % busy "
        "(160.0 GPU-hours idle)",
        "3. [warning] site atl-2 spent 3 h 10 min above 95 % of its 5.0 MW cap (peak 4.98 MW); "
        "at its current growth of +0.10 MW/day it reaches the cap on Dec 4",
        "4. [critical] site fra-1 spent 5 min at or above its 10.0 MW cap (peak 10.4 MW)",
        "5. [critical] receiver slack was refused 1 alert at 05:00: HTTP 400: invalid_token",
    ]


def test_quiet_day_says_nothing_to_report() -> None:
    quiet = DigestInputs(
        start=START,
        end=END,
        site_times=[SiteTime("ams-1", 5.0, 0.9, 3.0, 0, 0)],
        power=rising("ams-1", 3.0, 0.0, 5.0),
    )
    digest = build_digest(quiet, THRESHOLDS)
    assert digest.findings == [] and digest.candidates == 0
    assert digest.text().startswith(
        "megawatch digest for the fleet, 2026-11-29 08:00 - "
        "2026-11-30 08:00 UTC: nothing to report\n"
    )


@pytest.mark.parametrize(
    ("dropped_per_min", "severity", "found"),
    [
        (5, None, False),  # 5e-6 < warning 1e-5: no finding
        (10, "warning", True),  # exactly the warning ratio
        (99, "warning", True),
        (100, "critical", True),  # 1e-4: the critical ratio
    ],
)
def test_loss_severity_follows_the_class_thresholds(
    dropped_per_min: int, severity: str | None, found: bool
) -> None:
    minutes = lossy_link("atl-wis-1", END - timedelta(minutes=30), 5, 10**6, dropped_per_min)
    out = loss_findings(minutes, THRESHOLDS.warn, THRESHOLDS.crit, END)
    assert bool(out) is found
    if found:
        assert out[0].severity == severity and out[0].duration_s == 300


def test_loss_period_with_gaps_counts_only_lossy_minutes() -> None:
    start = END - timedelta(hours=2)
    minutes = (
        lossy_link("l1", start, 2, 10**6, 50)
        + lossy_link("l1", start + timedelta(minutes=10), 1, 10**6, 0)  # clean minute
        + lossy_link("l1", start + timedelta(minutes=20), 1, 10**6, 50)
        + [LinkMinute("atl-2", "l1", "wan", "wis-1", start + timedelta(minutes=30), 0, 0)]
    )
    [found] = loss_findings(minutes, THRESHOLDS.warn, THRESHOLDS.crit, END)
    # 150 of 3M during the 3 lossy minutes; 06:00-06:21 spans 21 minutes
    assert found.sentence == (
        "WAN link l1 (atl-2 to wis-1) dropped 0.005 % of packets in 3 "
        "minutes between 06:00 and 06:21"
    )
    assert found.amount == 3 * 10**6 and found.facts["dropped_packets"] == 150


def test_fabric_links_without_peer_name_their_site() -> None:
    minutes = [LinkMinute("ams-1", "ib-3", "fabric", "", END - timedelta(minutes=5), 10**6, 2)]
    [found] = loss_findings(minutes, THRESHOLDS.warn, THRESHOLDS.crit, END)
    assert found.sentence.startswith("fabric link ib-3 at ams-1 dropped 0.0002 % of packets")


def test_growth_is_the_robust_trend_and_ignores_spikes() -> None:
    points = rising("atl-2", 4.5, 0.1, 5.0)
    spiky = [
        PowerPoint(p.site, p.at, p.avg_mw + (1.5 if i % 7 == 3 else 0), p.cap_mw)
        for i, p in enumerate(points)
    ]
    growth = site_growth(spiky, 86400)["atl-2"]
    assert growth.slope_mw_per_day == pytest.approx(0.1, rel=1e-6)
    # last point 23.5 h in: 4.5 + 0.1 x 23.5/24 = 4.598 MW; (5 - 4.598) / 0.1 = 4.02 days
    assert growth.level_mw == pytest.approx(4.5979, abs=1e-3)
    assert growth.reach_at == pytest.approx(
        START + timedelta(hours=23.5, days=4.0208), abs=timedelta(minutes=5)
    )


def test_growth_needs_history_and_a_cap() -> None:
    assert site_growth(rising("a", 4.0, 1.0, 5.0)[:5], 86400) == {}  # 5 points
    assert site_growth(rising("a", 4.0, 1.0, None), 86400) == {}  # no cap


@pytest.mark.parametrize(
    ("mw_per_day", "kind", "severity"),
    [
        (0.5, "cap_growth", "warning"),  # ~2 days to the cap
        (0.05, "cap_growth", "info"),  # ~20 days
        (0.02, None, None),  # ~50 days: not worth a line
        (-0.1, None, None),  # shrinking
    ],
)
def test_growth_finding_for_sites_not_yet_near_the_cap(
    mw_per_day: float, kind: str | None, severity: str | None
) -> None:
    growth = site_growth(rising("ord-1", 4.0 - mw_per_day, mw_per_day, 5.0), 86400)
    out = cap_findings([SiteTime("ord-1", 5.0, 0.9, 4.0, 0, 0)], growth, END)
    assert [(f.kind, f.severity) for f in out] == ([(kind, severity)] if kind else [])


def test_warning_level_unknown_is_said_in_words() -> None:
    [found] = cap_findings([SiteTime("a", 5.0, None, None, 120, 0)], {}, END)
    assert found.sentence == "site a spent 2 min above the warning level of its 5.0 MW cap"


def test_digest_body_for_the_signed_webhook() -> None:
    digest = build_digest(operator_day(), THRESHOLDS)
    body = digest.body("webhook-1", END)
    assert body["version"] == "1" and body["kind"] == "digest" and body["id"] == digest.digest_id
    assert body["window"] == {
        "start": "2026-11-29T08:00:00.000Z",
        "end": "2026-11-30T08:00:00.000Z",
        "site": None,
    }
    assert [f["rank"] for f in body["findings"]] == [1, 2, 3, 4, 5]
    assert body["findings"][0]["facts"]["dropped_packets"] == 17 * 200
    assert body["text"] == digest.text()
    same_window = build_digest(DigestInputs(start=START, end=END), THRESHOLDS)
    other_site = build_digest(DigestInputs(start=START, end=END, site="atl-2"), THRESHOLDS)
    assert same_window.digest_id == digest.digest_id != other_site.digest_id


def test_idle_racks_of_a_site_make_one_finding() -> None:
    racks = [
        IdleRack("fra-1", "r01", 0.0003, 2.4, 72),
        IdleRack("fra-1", "r07", 0.0005, 3.0, 72),
        IdleRack("fra-1", "r09", 0.0, 0.0, 8),
        IdleRack("ord-1", "r12", 0.8, 160.0, 8),
    ]
    fra, ord_ = idle_findings(racks)
    # fra-1: 0.8 kWh in 2 racks (r09 burned nothing); 5.4 GPU-hours over 144 GPUs
    assert fra.sentence == (
        "GPUs under 5 % busy at fra-1 burned 0.8 kWh in 2 racks (5.4 GPU-hours "
        "idle; most at rack r07, 0.5 kWh)"
    )
    assert fra.amount == pytest.approx(0.0008) and fra.duration_s == pytest.approx(5.4 / 144 * 3600)
    assert fra.facts["racks"] == ["r07", "r01"]
    assert ord_.sentence == (
        "rack r12 at ord-1 burned 0.8 MWh with GPUs under 5 % busy (160.0 GPU-hours idle)"
    )
    assert ord_.duration_s == 20 * 3600


def test_dead_letter_sentence() -> None:
    one = DeadLetterGroup(
        "telemetry.gpu", "invalid", 1, END - timedelta(hours=1), END - timedelta(hours=1)
    )
    many = DeadLetterGroup(
        "telemetry.link", "", 1234, START + timedelta(hours=1), END - timedelta(hours=2)
    )
    assert [f.sentence for f in dead_letter_findings([one, many], END)] == [
        "telemetry.gpu: 1 dead letter (invalid) at 07:00",
        "telemetry.link: 1,234 dead letters (no reason code) between Nov 29 09:00 and 06:00",
    ]
