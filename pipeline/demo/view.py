"""The demo's live terminal view (rich): every site against its cap, and the alerts.

Reads the worker's ``/api/state`` (live figures per site) and what the webhook receiver
got; renders one table per refresh. Without a terminal it prints a line every few seconds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

BAR_WIDTH = 16


def power_bar(total_w: float | None, cap_w: float | None, warn_w: float | None) -> Text:
    if total_w is None:
        return Text("no data yet", style="dim")
    if not cap_w:
        return Text(f"{total_w / 1e6:6.2f} MW (no cap)", style="cyan")
    share = total_w / cap_w
    filled = min(BAR_WIDTH, round(share * BAR_WIDTH))
    style = "red" if share >= 1 else "yellow" if warn_w and total_w >= warn_w else "green"
    bar = Text("█" * filled, style=style) + Text("░" * (BAR_WIDTH - filled), style="dim")
    return bar + Text(f" {total_w / 1e6:5.2f}/{cap_w / 1e6:5.2f} MW {share:4.0%}", style=style)


def site_table(state: dict[str, Any]) -> Table:
    table = Table(expand=False, pad_edge=False, box=None, header_style="bold")
    for column in ("site", "power vs cap", "headroom", "stale racks", "GPU util", "worst link"):
        table.add_column(column, no_wrap=True)
    table.add_column("firing")
    for site in state.get("sites", []):
        cap, total = site.get("cap_w"), site.get("total_w")
        headroom = "" if cap is None or total is None else f"{(cap - total) / 1e6:+.2f} MW"
        stale = f"{site['stale_racks']}/{site['racks']}"
        util = site.get("gpu_util_pct")
        loss = site.get("worst_loss")
        link = "" if loss is None else f"{site['worst_link']} {loss * 100:.4f} %"
        firing = ", ".join(f["rule"] for f in site.get("firing", []))
        name = Text(site["site"]) + (
            Text(" (warming up)", style="dim") if site.get("warming") else Text("")
        )
        table.add_row(
            name,
            power_bar(total, cap, site.get("warn_w")),
            headroom,
            Text(stale, style="yellow" if site["stale_racks"] else ""),
            "" if util is None else f"{util:.0f} %",
            Text(link, style="red" if loss and loss >= 1e-4 else ""),
            Text(firing, style="bold red" if firing else ""),
        )
    return table


def alert_lines(alerts: list[dict[str, Any]], limit: int = 8) -> Text:
    text = Text()
    for alert in alerts[-limit:]:
        status = alert.get("status", "?")
        style = "bold red" if status == "firing" else "green"
        when = alert.get("ends_at") if status == "resolved" else alert.get("starts_at")
        clock = _clock(when)
        text.append(f"{clock} {status.upper():8} {alert.get('severity', ''):8} ", style=style)
        text.append(f"{alert.get('summary', '')}\n")
    return text or Text("no alerts received yet", style="dim")


def render(state: dict[str, Any], alerts: list[dict[str, Any]], header: str) -> Group:
    return Group(
        Text(header, style="bold"),
        site_table(state),
        Text(""),
        Text("latest alerts at the webhook (signatures verified)", style="bold"),
        alert_lines(alerts),
    )


def plain_line(state: dict[str, Any], alerts: list[dict[str, Any]], header: str) -> str:
    over = [
        s["site"]
        for s in state.get("sites", [])
        if s.get("cap_w") and (s.get("total_w") or 0) >= s["cap_w"]
    ]
    firing = sum(len(s.get("firing", [])) for s in state.get("sites", []))
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
