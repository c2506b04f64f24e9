"""The demo's live terminal view (rich): every site against its cap, and the alerts.

Reads the worker's ``/api/state`` (live figures per site) and what the webhook receiver
got. The view fits the terminal it is given, 80x24 at the least, and grows with it:
sites are ranked by their share of the cap (the ones that matter first), names are
never cut, and the sites that do not fit are counted on a "+N more" line. Wider
terminals get more columns (stale racks, GPU load, worst link), taller ones more sites
and alerts. Firing alerts read CRIT or warn, so severity shows without colour too; each
condition shows once, at its highest severity (:mod:`pipeline.analytics.conditions`).
Without a terminal it prints a line every few seconds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Group
from rich.text import Text

from pipeline.analytics.conditions import key_figure, one_per_condition, strongest

BAR_WIDTH = 10
POWER_CELLS = BAR_WIDTH + 21  # the bar, " 4.62/ 5.00 MW   92%"
WIDE = 120  # from this width on: stale racks, GPU load, worst link
SEVERITY_LABELS = {"critical": ("CRIT", "bold red"), "warning": ("warn", "yellow")}
FIGURE_CELLS = 13  # "10.31/10.00 MW" fits with its space


def ranked(sites: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Highest share of cap first; sites without a cap or data last, by power."""

    def key(site: dict[str, Any]) -> tuple[int, float]:
        cap, total = site.get("cap_w"), site.get("total_w")
        if cap and total is not None:
            return (0, -total / cap)
        return (1, -(total or 0.0))

    return sorted(sites, key=key)


def power_bar(total_w: float | None, cap_w: float | None, warn_w: float | None) -> Text:
    """``█████████░  4.62/ 5.00 MW   92%`` (:data:`POWER_CELLS` cells), by level."""
    if total_w is None:
        return Text(f"{'no data yet':<{POWER_CELLS}}", style="dim")
    if not cap_w:
        return Text(
            f"{'':{BAR_WIDTH}} {total_w / 1e6:5.2f} MW (no cap)".ljust(POWER_CELLS), style="cyan"
        )
    share = total_w / cap_w
    filled = min(BAR_WIDTH, round(share * BAR_WIDTH))
    style = "red" if share >= 1 else "yellow" if warn_w and total_w >= warn_w else "green"
    bar = Text("█" * filled, style=style) + Text("░" * (BAR_WIDTH - filled), style="dim")
    figures = f" {total_w / 1e6:5.2f}/{cap_w / 1e6:5.2f} MW {share * 100:4.0f}%"
    return bar + Text(figures, style=style)


def firing_text(firing: list[dict[str, Any]], room: int = 1000) -> Text:
    """Critical first, cap rules first: ``CRIT cap_critical, warn link_loss_wan``; when
    that does not fit in ``room`` cells, the first and a count: ``CRIT cap_critical +2``.
    One entry per condition: a critical alert supersedes its own warning."""
    order = {"critical": 0, "warning": 1}
    entries = sorted(
        strongest(firing),
        key=lambda f: (
            order.get(f.get("severity", ""), 2),
            not f.get("rule", "").startswith("cap"),
        ),
    )
    parts = []
    for entry in entries:
        label, style = SEVERITY_LABELS.get(entry.get("severity", ""), ("info", "cyan"))
        parts.append((f"{label} {entry.get('rule', '?')}", style))
    text = Text()
    if sum(len(part) + 2 for part, _ in parts) - 2 > room and len(parts) > 1:
        text.append(parts[0][0], style=parts[0][1])
        return text.append(f" +{len(parts) - 1}", style="bold")
    for n, (part, style) in enumerate(parts):
        text.append(", " if n else "")
        text.append(part, style=style)
    return text


def site_line(site: dict[str, Any], name_width: int, width: int) -> Text:
    cap, total = site.get("cap_w"), site.get("total_w")
    line = Text(f"{site['site']:<{name_width}} ", style="dim" if site.get("warming") else "")
    line += power_bar(total, cap, site.get("warn_w"))
    headroom = "" if cap is None or total is None else f"{(cap - total) / 1e6:+.2f}"
    line += Text(f" {headroom:>7}")
    coverage = site.get("coverage")
    cov = "" if coverage is None else f"{coverage * 100:.0f}%"
    estimated = (site.get("estimated_w") or 0) > 0
    line += Text(f" {cov:>4}", style="yellow" if estimated else "")
    if width >= WIDE:
        line += _wide_columns(site)
    line += Text(" ")
    line += firing_text(site.get("firing", []), width - line.cell_len)
    line.truncate(width, overflow="ellipsis")
    return line


def _wide_columns(site: dict[str, Any]) -> Text:
    stale = f"{site.get('stale_racks', 0)}/{site.get('racks', 0)}"
    util = site.get("gpu_util_pct")
    loss = site.get("worst_loss")
    link = "" if loss is None else f"{site.get('worst_link')} {loss * 100:.3f}%"
    text = Text(f" {stale:>7}", style="yellow" if site.get("stale_racks") else "")
    text += Text(f" {'' if util is None else f'{util:.0f}%':>4}")
    text += Text(f" {link:<24.24}", style="red" if loss and loss >= 1e-4 else "")
    return text


def column_header(name_width: int, width: int) -> Text:
    text = f"{'site':<{name_width}} {'power vs cap':<{POWER_CELLS}} {'MW left':>7} {'cov':>4}"
    if width >= WIDE:
        text += f" {'stale':>7} {'GPU':>4} {'worst link':<24}"
    return Text(f"{text} firing"[:width], style="bold")


def alert_lines(alerts: list[dict[str, Any]], limit: int, width: int) -> list[Text]:
    """The latest alerts, one line per condition (a critical alert supersedes its own
    warning; a resolved condition reads ``ok``): time, severity, the key figure, then
    the text, which a narrow screen cuts after the figure, never before it."""
    lines = []
    for alert in one_per_condition(alerts)[-limit:] if limit else []:
        status = alert.get("status", "?")
        severity = alert.get("severity", "")
        label, style = SEVERITY_LABELS.get(severity, ("info", "cyan"))
        if status != "firing":
            label, style = "ok", "green"
        when = alert.get("ends_at") if status == "resolved" else alert.get("starts_at")
        line = Text(f"{_clock(when)} ", style="dim")
        line.append(f"{label:<4} ", style=style)
        line.append(f"{key_figure(alert):<{FIGURE_CELLS}} ", style="bold")
        line.append(str(alert.get("summary", "")))
        line.truncate(width, overflow="ellipsis")
        lines.append(line)
    return lines or [Text("no alerts received yet", style="dim")]


def render(
    state: dict[str, Any],
    alerts: list[dict[str, Any]],
    header: str,
    width: int = 80,
    height: int = 24,
) -> Group:
    """The view for a ``width`` x ``height`` terminal: never wider, never taller."""
    sites = ranked(state.get("sites", []))
    alert_rows = max(2, min(10, (height - 8) // 3))
    fixed = 4 + alert_rows  # header, column header, blank line, alerts title
    room = max(1, height - fixed - 1)  # - 1: the cursor line rich's Live keeps
    shown = sites if len(sites) <= room else sites[: room - 1]
    name_width = max([len(s["site"]) for s in shown] + [4])
    lines = [Text(header[:width], style="bold"), column_header(name_width, width)]
    lines += [site_line(site, name_width, width) for site in shown]
    if len(shown) < len(sites):
        lines.append(_more_line(sites[len(shown) :], width))
    lines.append(Text(""))
    lines.append(Text("latest alerts at the webhook (signatures verified)"[:width], style="bold"))
    lines += alert_lines(alerts, alert_rows, width)
    for line in lines:
        line.no_wrap = True
        line.overflow = "ellipsis"
    return Group(*lines)


def _more_line(hidden: list[dict[str, Any]], width: int) -> Text:
    firing = sum(1 for s in hidden if s.get("firing"))
    note = f", {firing} of them with alerts firing" if firing else ", all below the ones shown"
    return Text(f"+{len(hidden)} more sites{note}"[:width], style="dim")


def plain_line(state: dict[str, Any], alerts: list[dict[str, Any]], header: str) -> str:
    over = [
        s["site"]
        for s in state.get("sites", [])
        if s.get("cap_w") and (s.get("total_w") or 0) >= s["cap_w"]
    ]
    firing = sum(len(strongest(s.get("firing", []))) for s in state.get("sites", []))
    return (
        f"{header} | sites over cap: {', '.join(over) or 'none'} | firing: {firing} | "
        f"alerts received: {len(alerts)}"
    )


def _clock(value: Any) -> str:
    if not value:
        return "--:--:--"
    try:
        return datetime.fromisoformat(str(value)).astimezone(UTC).strftime("%H:%M:%S")
    except ValueError:
        return str(value)[:8]
