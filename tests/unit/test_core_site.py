"""A site's rules end to end in pure code: cap, warm-up, forecast, link loss, idle power."""

from __future__ import annotations

from pipeline.core.policy import RuleConfig, SitePolicy
from pipeline.core.site import SiteMonitor
from pipeline.events import AlertStatus, LinkClass, SiteSpec

CFG = RuleConfig(
    cap_for_s=2,
    cap_resolve_for_s=2,
    loss_for_s=0,
    loss_resolve_for_s=5,
    idle_for_s=10,
    loss_min_tx_packets=100,
)
SPEC = SiteSpec(site="atl-2", cap_mw=5.0, warn_ratio=0.9, stale_after_s=15)
POLICY = SitePolicy.of("atl-2", SPEC, CFG)


def powered(monitor: SiteMonitor, now_ms: int, total_mw: float, racks: int = 10) -> None:
    for i in range(racks):
        monitor.power.update(f"r{i}", now_ms, total_mw * 1e6 / racks)


def run_power(monitor: SiteMonitor, seconds: range, mw_at) -> list:
    alerts = []
    for s in seconds:
        now = s * 1000
        powered(monitor, now, mw_at(s))
        _, _, fired = monitor.evaluate_power(now, POLICY)
        alerts += [(s, a.rule, a.status.value, a.seq) for a in fired]
    return alerts


def test_warming_up_blocks_alerts_for_one_staleness_window() -> None:
    monitor = SiteMonitor("atl-2", CFG, created_ms=0, durable=None)
    alerts = run_power(monitor, range(0, 20), lambda s: 6.0)
    first = min(s for s, *_ in alerts)
    assert first >= 15 + 2  # warm for 15 s, then `for` of 2 s
    assert {(r, st) for _, r, st, _ in alerts} == {
        ("cap_warning", "firing"),
        ("cap_critical", "firing"),
    }


def test_cap_episode_fires_once_and_resolves_once_with_hysteresis() -> None:
    monitor = SiteMonitor("atl-2", CFG, created_ms=-60_000, durable=None)

    def mw(s: int) -> float:
        if s < 10:
            return 4.0
        if s < 30:
            return 5.2  # over the cap
        if s < 40:
            return 4.95  # under the cap, inside the 2 % band: still firing
        return 4.0  # well under: resolve after 2 s

    alerts = run_power(monitor, range(0, 60), mw)
    crit = [(s, st, seq) for s, r, st, seq in alerts if r == "cap_critical"]
    assert crit == [(12, "firing", 1), (42, "resolved", 2)]
    warn = [(s, st) for s, r, st, _ in alerts if r == "cap_warning"]
    assert warn == [(12, "firing"), (42, "resolved")]


def test_alert_event_content() -> None:
    monitor = SiteMonitor("atl-2", CFG, created_ms=-60_000, durable=None)
    powered(monitor, 0, 5.08)
    monitor.evaluate_power(0, POLICY)
    powered(monitor, 2_000, 5.08)
    _, _, alerts = monitor.evaluate_power(2_000, POLICY)
    crit = next(a for a in alerts if a.rule == "cap_critical")
    assert (crit.value, crit.threshold, crit.severity.value) == (5.08, 5.0, "critical")
    assert crit.starts_at.timestamp() == 0 and crit.ends_at is None
    assert "5.08 MW" in crit.summary and "5.00 MW cap" in crit.summary


def test_restart_with_durable_state_does_not_refire() -> None:
    monitor = SiteMonitor("atl-2", CFG, created_ms=-60_000, durable=None)
    run_power(monitor, range(0, 5), lambda s: 6.0)
    durable = monitor.alerts.durable()
    restarted = SiteMonitor("atl-2", CFG, created_ms=100_000, durable=durable)
    alerts = run_power(restarted, range(100, 130), lambda s: 6.0)
    assert alerts == []
    alerts = run_power(restarted, range(130, 140), lambda s: 3.0)
    assert [(r, st, seq) for _, r, st, seq in alerts] == [
        ("cap_warning", "resolved", 2),
        ("cap_critical", "resolved", 2),
    ]


def test_site_without_spec_is_tracked_but_never_alerts() -> None:
    monitor = SiteMonitor("new-1", CFG, created_ms=-60_000, durable=None)
    policy = SitePolicy.of("new-1", None, CFG)
    powered(monitor, 0, 50.0)
    row, _, alerts = monitor.evaluate_power(0, policy)
    assert alerts == [] and row.cap_w is None and row.total_w == 50e6


def test_cap_change_takes_effect_on_next_evaluation() -> None:
    monitor = SiteMonitor("atl-2", CFG, created_ms=-60_000, durable=None)
    bigger = SitePolicy.of("atl-2", SiteSpec(site="atl-2", cap_mw=10.0), CFG)
    for s in range(5):
        powered(monitor, s * 1000, 6.0)
        _, _, alerts = monitor.evaluate_power(s * 1000, bigger)
        assert alerts == []
    fired = []
    for s in range(5, 10):
        powered(monitor, s * 1000, 6.0)
        fired += monitor.evaluate_power(s * 1000, POLICY)[2]
    assert {a.rule for a in fired} == {"cap_warning", "cap_critical"}


def test_forecast_fires_with_projected_time() -> None:
    cfg = RuleConfig(cap_for_s=0, cap_resolve_for_s=0)
    monitor = SiteMonitor("atl-2", cfg, created_ms=-60_000, durable=None)
    policy = SitePolicy.of("atl-2", SPEC, cfg)
    fired = []
    for s in range(0, 450):  # 3.0 MW rising 2 kW/s: reaches 5 MW at s=1000, 10 min horizon
        powered(monitor, s * 1000, 3.0 + 0.002 * s)
        fired += monitor.evaluate_power(s * 1000, policy)[2]
    forecast = [a for a in fired if a.rule == "cap_forecast"]
    assert forecast and forecast[0].status is AlertStatus.firing
    first = forecast[0]
    assert first.forecast_at is not None
    assert abs(first.forecast_at.timestamp() - 1000) < 30
    assert "projected to reach its 5.00 MW cap" in first.summary


def test_wan_loss_alert_names_link_and_peer() -> None:
    spec = SiteSpec(site="atl-2", cap_mw=5, loss_crit={"wan": 1e-3})
    policy = SitePolicy.of("atl-2", spec, CFG)
    monitor = SiteMonitor("atl-2", CFG, created_ms=-60_000, durable=None)
    alerts = []
    tx = dropped = 0
    for s in range(20):
        tx += 10_000
        dropped += 50 if 5 <= s < 10 else 0  # 0.5 % loss burst
        monitor.observe_link("atl-wis-1", LinkClass.wan, "wis-1", s * 1000, tx, tx, dropped)
        alerts += monitor.evaluate_links(["atl-wis-1"], s * 1000, policy)
    firing = [a for a in alerts if a.status is AlertStatus.firing]
    assert {(a.rule, a.severity.value) for a in firing} == {
        ("link_loss_wan", "warning"),
        ("link_loss_wan", "critical"),
    }
    crit = next(a for a in firing if a.severity.value == "critical")
    assert (crit.link, crit.peer_site, crit.threshold) == ("atl-wis-1", "wis-1", 1e-3)
    assert "atl-2 <-> wis-1" in crit.summary


def test_idle_power_info_alert() -> None:
    monitor = SiteMonitor("ord-1", CFG, created_ms=-60_000, durable=None)
    alerts = []
    for s in range(0, 15):
        for _g in range(8):
            monitor.rack_gpus("r12").update(s * 1000, 1.0, 300.0, 700.0)
        alerts += monitor.evaluate_gpus(s * 1000, POLICY)
    assert [(a.rule, a.rack, a.severity.value) for a in alerts] == [("idle_power", "r12", "info")]
    assert alerts[0].value == round(2400 / 5600, 4)
