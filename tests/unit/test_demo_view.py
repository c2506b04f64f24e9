"""The demo's live view fits 80x24 and grows with the terminal (rendered with rich)."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from pipeline.demo.view import firing_text, render
from pipeline.sources.sim.fleet_gen import generate_fleet


def state(sites: int = 30) -> dict[str, Any]:
    """A fleet with real site names: share of cap rising with the index, the top site
    over its cap with a critical alert, the next one above warning with a warning."""
    specs = generate_fleet(sites).site_specs()
    out = []
    for i, spec in enumerate(specs):
        cap = spec.cap_mw * 1e6
        share = 0.5 + 0.6 * i / (sites - 1)  # the last one at 110 %
        firing = []
        if share >= 1:
            firing = [{"rule": "cap_critical", "severity": "critical", "subject": ""}]
        elif share >= 0.9:
            firing = [{"rule": "cap_warning", "severity": "warning", "subject": ""}]
        if i in (3, 22):
            firing.append({"rule": "link_loss_wan", "severity": "warning", "subject": "wan-1"})
        out.append(
            {
                "site": spec.site,
                "total_w": share * cap,
                "cap_w": cap,
                "warn_w": 0.9 * cap,
                "racks": 40,
                "stale_racks": 1 if i == 5 else 0,
                "warming": False,
                "gpu_util_pct": 71.0,
                "worst_link": "wan-1",
                "worst_loss": 0.00012,
                "firing": firing,
                "coverage": 0.975 if i == 5 else 1.0,
                "estimated_w": 50_000.0 if i == 5 else 0.0,
            }
        )
    return {"sites": out}


def alert(fp: str, rule: str, severity: str, at: str, value: float, threshold: float, **kw: Any):
    return {
        "fingerprint": fp,
        "rule": rule,
        "severity": severity,
        "status": kw.pop("status", "firing"),
        "site": kw.pop("site", "train-dfw-3"),
        "starts_at": f"2026-11-29T10:00:{at}+00:00",
        "value": value,
        "threshold": threshold,
        **kw,
    }


CAP_TEXT = (
    "site train-dfw-3 draws 5.52 MW (5.40 reported + 0.12 estimated for 2 silent racks), "
    "110.4 % of its 5.00 MW cap"
)
ALERTS = [
    alert("a1", "cap_warning", "warning", "00", 5.52, 4.5, summary=CAP_TEXT + " (warning at 90 %)"),
    alert("a2", "cap_critical", "critical", "01", 5.52, 5.0, summary=CAP_TEXT),
    alert(
        "b1",
        "link_loss_wan",
        "warning",
        "03",
        0.004,
        1e-5,
        site="inf-fra-1",
        link="wan-1",
        summary="WAN link wan-1 (inf-fra-1 <-> train-dfw-3) lost 0.4000 % of packets over the "
        "last 30 s (threshold 0.0010 %)",
    ),
]


def screen(width: int, height: int, sites: int = 30) -> list[str]:
    console = Console(width=width, height=height, file=io.StringIO(), record=True)
    header = "megawatch demo: 30 sites, 45 s (Ctrl-C to stop), 2 alerts received, 0 rejected"
    console.print(render(state(sites), ALERTS, header, width, height))
    return console.export_text().splitlines()


def test_fits_80_by_24_with_whole_names_ranked_by_share_of_cap() -> None:
    lines = screen(80, 24)
    assert len(lines) <= 23  # one line left for the cursor
    assert max(len(line) for line in lines) <= 80
    fleet = state()["sites"]
    by_share = sorted(fleet, key=lambda s: s["total_w"] / s["cap_w"], reverse=True)
    rows = [line for line in lines if line.split(" ")[0] in {s["site"] for s in fleet}]
    shown = [row.split(" ")[0] for row in rows]
    assert shown == [s["site"] for s in by_share[: len(shown)]]  # whole names, ranked
    assert len(shown) >= 8
    more = [line for line in lines if line.startswith("+")]
    assert more == [f"+{30 - len(shown)} more sites, 1 of them with alerts firing"]
    top = rows[0]
    assert "110%" in top and "CRIT cap_critical" in top and "-0." in top
    assert any("warn cap_warning" in row for row in rows)  # severity tells them apart
    # two alerts where one fits: the most severe, and a count
    assert any(row.endswith("warn cap_warning +1") for row in rows)
    # alert lines are cut to the width, never wrapped, and never before their key figure;
    # the critical alert supersedes its own warning: one line for the cap condition
    alert_lines = lines[lines.index("latest alerts at the webhook (signatures verified)") + 1 :]
    assert alert_lines == [
        "10:00:01 CRIT 5.52/5.00 MW  site train-dfw-3 draws 5.52 MW (5.40 reported + 0.1…",
        "10:00:03 warn 0.4% lost     WAN link wan-1 (inf-fra-1 <-> train-dfw-3) lost 0.4…",
    ]
    assert all(len(line) == 80 for line in alert_lines)


def test_a_wider_taller_terminal_shows_more_sites_and_columns() -> None:
    small, large = screen(80, 24), screen(160, 50)
    assert len(large) > len(small) and len(large) <= 49
    assert max(len(line) for line in large) <= 160
    assert "worst link" in large[1] and "worst link" not in small[1]
    assert sum(1 for line in large if "MW" in line) > sum(1 for line in small if "MW" in line)


def test_one_line_per_condition_at_its_highest_severity() -> None:
    """A wholly silent site fires telemetry_missing as warning and critical: one line, the
    critical one; a resolved condition reads ok; the live column shows the cap once."""
    silent = [
        alert("t1", "telemetry_missing", "warning", "10", 0.0, 0.9, site="inf-ams-1", summary="w"),
        alert("t2", "telemetry_missing", "critical", "10", 0.0, 0.9, site="inf-ams-1", summary="c"),
        alert("r1", "cap_warning", "warning", "12", 4.6, 4.5, site="inf-lhr-1", summary="up"),
        alert("r1", "cap_warning", "warning", "12", 4.4, 4.5, site="inf-lhr-1", summary="down")
        | {"status": "resolved", "ends_at": "2026-11-29T10:00:20+00:00"},
    ]
    console = Console(width=80, height=24, file=io.StringIO(), record=True)
    console.print(render({"sites": []}, silent, "h", 80, 24))
    lines = console.export_text().splitlines()
    assert lines[-2:] == [
        "10:00:10 CRIT 0% reporting  c",
        "10:00:20 ok   4.40/4.50 MW  down",
    ]
    firing = [
        {"rule": "cap_warning", "severity": "warning", "subject": ""},
        {"rule": "cap_critical", "severity": "critical", "subject": ""},
        {"rule": "link_loss_wan", "severity": "warning", "subject": "wan-1"},
    ]
    assert firing_text(firing).plain == "CRIT cap_critical, warn link_loss_wan"


def test_few_sites_need_no_more_line_and_coverage_shows() -> None:
    lines = screen(80, 24, sites=6)
    assert not any(line.startswith("+") for line in lines)
    assert "cov" in lines[1]
    assert any(" 98% " in line or line.endswith(" 98%") for line in lines)  # 0.975, estimated


def test_ctrl_c_while_live_sets_the_stop_event_and_raises_nowhere() -> None:
    # A KeyboardInterrupt raised inside a library's code (kafka-python's network task
    # caught and logged it) never reached the demo; the live part takes SIGINT as an
    # event instead, and puts the previous handler back after.
    import os
    import signal

    from pipeline.demo.runner import _interrupt_sets

    before = signal.getsignal(signal.SIGINT)
    with _interrupt_sets() as stopping:
        assert not stopping.is_set()
        os.kill(os.getpid(), signal.SIGINT)
        assert stopping.wait(5)
    assert signal.getsignal(signal.SIGINT) is before
