"""A readable Slack message for a notification (pure).

One line per alert: what (rule, severity), where (site, link or rack), value against
threshold, since when; a header line for the group; a footer counting left-out alerts.
``text`` alone is enough for Slack incoming webhooks and for anything that mimics them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pipeline.events import Alert, AlertStatus
from pipeline.notify.notification import Notification, Purpose

_ICONS = {
    "critical": ":red_circle:",
    "warning": ":large_orange_circle:",
    "info": ":information_source:",
}
_SI = ((1e9, "G"), (1e6, "M"), (1e3, "k"))


def format_number(value: float) -> str:
    """4 significant digits with an SI prefix: 11.25M, 950k, 0.0123."""
    for scale, prefix in _SI:
        if abs(value) >= scale:
            return f"{value / scale:.4g}{prefix}"
    return f"{value:.4g}"


def format_since(start: datetime, now: datetime) -> str:
    """``2026-11-20 14:02 UTC (12m ago)``."""
    age = max(0, int((now - start).total_seconds()))
    if age < 120:
        ago = f"{age}s"
    elif age < 7200:
        ago = f"{age // 60}m"
    else:
        ago = f"{age // 3600}h{(age % 3600) // 60:02d}m"
    return f"{start.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC ({ago} ago)"


def _where(alert: Alert) -> str:
    parts = [f"site *{alert.site}*"]
    if alert.link:
        peer = f" to {alert.peer_site}" if alert.peer_site else ""
        parts.append(f"link {alert.link}{peer}")
    if alert.rack:
        parts.append(f"rack {alert.rack}")
    return ", ".join(parts)


def alert_line(alert: Alert, now: datetime) -> str:
    state = "RESOLVED" if alert.status is AlertStatus.resolved else alert.severity.value.upper()
    line = (
        f"{_ICONS.get(alert.severity.value, '')} *{state}* {alert.rule} at {_where(alert)}: "
        f"{alert.summary} (value {format_number(alert.value)} vs threshold "
        f"{format_number(alert.threshold)}, since {format_since(alert.starts_at, now)}"
    )
    if alert.status is AlertStatus.resolved and alert.ends_at is not None:
        line += f", resolved {alert.ends_at.astimezone(UTC):%H:%M:%S} UTC"
    return line + ")"


def slack_message(n: Notification, now: datetime) -> dict[str, Any]:
    header = f"[{n.status.value.upper()}] {n.group.rule} at {n.group.site}"
    if n.purpose is Purpose.repeat:
        header += " (still firing, reminder)"
    if n.test:
        header = "[TEST, not a real condition] " + header
    lines = [header, *(alert_line(alert, now) for alert in n.listed)]
    if n.truncated:
        lines.append(f"...and {n.truncated} more alert(s) not listed")
    return {"text": "\n".join(lines)}
