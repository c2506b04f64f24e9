"""Missing telemetry is never read as safety: partial and total silence, the hold and
its expiry, the return of data, forgetting, and silent links (pure core)."""

from __future__ import annotations

import pytest

from pipeline.core.policy import RuleConfig, SitePolicy
from pipeline.core.power import SitePower, Windows
from pipeline.core.processor import Processor
from pipeline.core.rules.cap import CAP_RESOLVE_FOR
from pipeline.core.site import SiteMonitor
from pipeline.events import LinkClass, RackPower, SiteSpec

CFG = RuleConfig(
    stale_after_s=15,
    stale_hold_s=600,
    cap_for_s=2,
    cap_resolve_for_s=2,
    telemetry_for_s=5,
    forget_after_s=3600,
    loss_for_s=0,
    loss_resolve_for_s=5,
    loss_min_tx_packets=100,
)
SPEC = SiteSpec(site="hx-3", cap_mw=1.0)
POLICY = SitePolicy.of("hx-3", SPEC, CFG)
RACKS = [f"r{i}" for i in range(10)]


@pytest.mark.parametrize(
    ("ages_s", "expected"),
    [
        # (age of each rack's last reading) -> (reported, estimated, held, unknown, coverage)
        ([1] * 10, (10, 0, 0, 0, 1.0)),
        ([1] * 6 + [35] * 4, (6, 4, 4, 0, 0.6)),  # partial silence: held at last power
        ([35] * 10, (0, 10, 10, 0, 0.0)),  # total silence
        ([1] * 8 + [35, 700], (8, 1, 1, 1, 0.8)),  # one past the 10 min hold: unknown
    ],
)
def test_draw_separates_reported_estimated_unknown(
    ages_s: list[int], expected: tuple[int, int, int, int, float]
) -> None:
    power = SitePower("hx-3")
    now = 1_000_000
    for rack, age in zip(RACKS, ages_s, strict=True):
        power.update(rack, now - age * 1000, 1.0)
    draw = power.snapshot(now, Windows(15_000, 600_000, 86_400_000)).draw
    got = (draw.reported_w, draw.estimated_w, draw.held, draw.unknown, draw.coverage)
    assert got == expected


def test_racks_expected_count_never_reported_racks_as_missing() -> None:
    power = SitePower("hx-3")
    for rack in RACKS[:9]:
        power.update(rack, 0, 1.0)
    draw = power.snapshot(1_000, Windows(15_000, 600_000, 86_400_000, racks_expected=12)).draw
    assert (draw.coverage, draw.missing, draw.complete) == (0.75, 3, False)


def feed(monitor: SiteMonitor, now: int, racks: list[str], kw: float = 120.0) -> None:
    for rack in racks:
        monitor.power.update(rack, now, kw * 1000)


def run(
    monitor: SiteMonitor,
    seconds: range,
    live: list[str],
    policy: SitePolicy = POLICY,
    kw: float = 120.0,
):
    out = []
    for s in seconds:
        feed(monitor, s * 1000, live, kw)
        _, _, alerts = monitor.evaluate_power(s * 1000, policy)
        out += [(s, a.rule, a.severity.value, a.status.value, a.summary) for a in alerts]
    return out


def test_a_wholly_silent_site_warns_and_alarms_in_different_words() -> None:
    """Every rack stops at once: the warning (coverage under the minimum) and the
    critical (silence) fire together, and each says its own thing (issue 24)."""
    monitor = SiteMonitor("hx-3", CFG, created_ms=-60_000, durable=None)
    run(monitor, range(0, 10), RACKS, kw=50.0)  # 0.5 MW: no cap alert
    both = run(monitor, range(10, 40), [])
    texts = {(r, sev): text for _, r, sev, st, text in both if st == "firing"}
    assert set(texts) == {("telemetry_missing", "warning"), ("telemetry_missing", "critical")}
    assert texts[("telemetry_missing", "critical")].startswith(
        "site hx-3 is silent: none of its 10 racks reports"
    )
    assert texts[("telemetry_missing", "warning")].startswith(
        "site hx-3: 10 of 10 racks not reporting (0 % coverage, minimum 90 %"
    )


def test_silence_keeps_cap_firing_and_fires_telemetry_missing_then_both_resolve() -> None:
    monitor = SiteMonitor("hx-3", CFG, created_ms=-60_000, durable=None)
    over = run(monitor, range(0, 10), RACKS)  # 1.2 MW against 1.0 MW
    assert {(r, st) for _, r, _, st, _ in over} == {
        ("cap_warning", "firing"),
        ("cap_critical", "firing"),
    }
    # 4 of 10 racks go silent: they keep drawing, counted at last power; nothing resolves.
    partial = run(monitor, range(10, 60), RACKS[:6])
    assert [(r, sev, st) for _, r, sev, st, _ in partial] == [
        ("telemetry_missing", "warning", "firing")
    ]
    s, *_, text = partial[0]
    assert s == 25 + 5  # silent after 15 s, then `for` of 5 s
    assert "4 of 10 racks not reporting" in text and "60 % coverage" in text
    # Everything silent: critical, the cap alert still firing.
    total = run(monitor, range(60, 100), [])
    assert [(r, sev, st) for _, r, sev, st, _ in total] == [
        ("telemetry_missing", "critical", "firing")
    ]
    assert "is silent" in total[0][4]
    # Data returns, under the cap: telemetry resolves, and only now the cap alerts too.
    back = run(monitor, range(100, 110), RACKS, policy=POLICY)
    feed_low = run(monitor, range(110, 120), [])  # nothing new: all fresh still
    assert feed_low == []
    resolved = {(r, sev) for _, r, sev, st, _ in back if st == "resolved"}
    assert resolved == {("telemetry_missing", "warning"), ("telemetry_missing", "critical")}


def test_cap_alert_text_says_what_is_known() -> None:
    monitor = SiteMonitor("hx-3", CFG, created_ms=-60_000, durable=None)
    feed(monitor, 0, RACKS[6:])  # 4 racks that will be silent at 35 s
    alerts = run(monitor, range(35, 40), RACKS[:6])
    crit = next(text for _, r, _, _, text in alerts if r == "cap_critical")
    assert crit == (
        "site hx-3 draws at least 1.20 MW (0.72 MW reported + 0.48 MW estimated for 4 "
        "silent racks, last seen 37 s ago), 120.0 % of its 1.00 MW cap"
    )


def test_cap_never_resolves_on_estimated_or_unknown_power() -> None:
    monitor = SiteMonitor("hx-3", CFG, created_ms=-60_000, durable=None)
    run(monitor, range(0, 10), RACKS)
    run(monitor, range(10, 30), RACKS[:6])  # racks 6-9 silent since 9 s
    # The 6 live racks drop to 50 kW (0.3 + 0.48 estimated = 0.78 MW, under the margin),
    # but 4 racks are silent: the alert holds, through the hold and past it (unknown).
    held = []
    for s in range(30, 700, 10):
        feed(monitor, s * 1000, RACKS[:6], kw=50.0)
        held += monitor.evaluate_power(s * 1000, POLICY)[2]
    assert [a for a in held if a.rule.startswith("cap_")] == []
    assert monitor.last is not None and monitor.last.draw.unknown == 4
    # The 4 racks report again (low): now the cap alerts resolve.
    back = run(monitor, range(700, 710), RACKS)
    feed_back = [(r, st) for _, r, _, st, _ in back if r.startswith("cap_")]
    assert ("cap_critical", "firing") not in feed_back  # 1.2 MW again: stays firing
    for s in range(710, 720):
        feed(monitor, s * 1000, RACKS, kw=50.0)
        back += [
            (s, a.rule, a.severity.value, a.status.value, a.summary)
            for a in monitor.evaluate_power(s * 1000, POLICY)[2]
        ]
    assert {(r, st) for _, r, _, st, _ in back if r.startswith("cap_")} == {
        ("cap_warning", "resolved"),
        ("cap_critical", "resolved"),
    }


def test_agent_that_stops_sending_is_noticed_by_the_tick_and_racks_are_forgotten() -> None:
    processor = Processor(CFG, lambda s: SPEC, lambda s: None)
    events = [RackPower(site="hx-3", rack=r, ts=0, power_w=50_000.0) for r in RACKS]
    processor.rack_power(events, 0, 0, now_ms=-60_000)  # created long ago: warm
    rules = []
    for s in range(0, 40):
        out = processor.tick_sites(s * 1000, ["hx-3"])
        rules += [(a.rule, a.severity.value, a.status.value) for a in out.alerts]
    assert ("telemetry_missing", "critical", "firing") in rules
    monitor = processor.monitors["hx-3"]
    monitor.rack_gpus("r1").update(0, 50.0, 300.0, 700.0)
    out = processor.tick_sites(3_600_001, ["hx-3"])
    assert out.forgotten == 10 and len(monitor.power) == 0 and not monitor.gpus
    processor.tick_sites(3_601_000, ["hx-3"])
    out = processor.tick_sites(3_601_000 + CFG.ms(CAP_RESOLVE_FOR), ["hx-3"])
    resolved = {(a.rule, a.severity.value) for a in out.alerts if a.status.value == "resolved"}
    assert ("telemetry_missing", "critical") in resolved


def test_silent_link_makes_loss_unknown_and_fires_link_telemetry() -> None:
    monitor = SiteMonitor("atl-2", CFG, created_ms=-60_000, durable=None)
    tx = dropped = 0
    alerts = []
    for s in range(10):
        tx, dropped = tx + 10_000, dropped + 50  # 0.5 % loss
        monitor.observe_link("wan-1", LinkClass.wan, "wis-1", s * 1000, tx, tx, dropped)
        alerts += monitor.evaluate_links(["wan-1"], s * 1000, POLICY)
    assert {a.status.value for a in alerts} == {"firing"}
    silent = []
    for s in range(10, 60):  # no counters any more
        silent += monitor.evaluate_link_silence(s * 1000, POLICY)
    assert [(a.rule, a.status.value, a.link) for a in silent] == [
        ("link_telemetry_missing", "firing", "wan-1")
    ]
    assert "loss is unknown" in silent[0].summary
    firing = {k.rule for k in monitor.alerts.firing_keys()}
    assert firing == {"link_loss_wan", "link_telemetry_missing"}  # loss: held, not resolved
    assert monitor.silent_links(60_000, POLICY) == ["wan-1"]
