"""The alerts that still fire, per receiver, and when each was last sent (pure).

Feeds the two kinds of reminder: repeats (webhooks, Slack: "still firing" after the
repeat interval, with the same fingerprint) and Alertmanager API re-sends (every firing
alert again each resend interval, as Prometheus does). Events are applied in ``seq``
order: an older event arriving late never overrides a newer state (the last seq of each
fingerprint is kept: a few bytes per alert the fleet ever raised).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from pipeline.events import Alert, AlertStatus
from pipeline.notify.notification import GroupKey


@dataclass
class _Firing:
    alert: Alert
    last_sent: float  # time.monotonic()


class FiringSet:
    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._groups: dict[GroupKey, dict[str, _Firing]] = {}
        self._last_seq: dict[str, int] = {}

    def __len__(self) -> int:
        return sum(len(group) for group in self._groups.values())

    def track(self, alerts: Iterable[Alert], now: float | None = None) -> None:
        """Apply state changes; a (re)fired alert counts as sent at ``now``."""
        now = time.monotonic() if now is None else now
        for alert in alerts:
            if alert.test or self._last_seq.get(alert.fingerprint, -1) > alert.seq:
                continue
            key = GroupKey.of(alert)
            if alert.status is AlertStatus.firing:
                self._last_seq[alert.fingerprint] = alert.seq
                self._groups.setdefault(key, {})[alert.fingerprint] = _Firing(alert, now)
                continue
            # Its seq is kept, so that an older firing event tracked late (still in a
            # lane when a receiver without send_resolved saw the resolve) is ignored.
            self._last_seq[alert.fingerprint] = alert.seq
            group = self._groups.get(key, {})
            group.pop(alert.fingerprint, None)
            if not group:
                self._groups.pop(key, None)

    def mark_sent(self, alerts: Iterable[Alert], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for alert in alerts:
            entry = self._groups.get(GroupKey.of(alert), {}).get(alert.fingerprint)
            if entry is not None and entry.alert.seq == alert.seq:
                entry.last_sent = now

    def all(self) -> list[Alert]:
        return [entry.alert for group in self._groups.values() for entry in group.values()]

    def due_groups(self, now: float | None = None) -> list[GroupKey]:
        """Groups holding an alert not sent for a whole interval."""
        now = time.monotonic() if now is None else now
        return [
            key
            for key, group in self._groups.items()
            if any(now - entry.last_sent >= self.interval_s for entry in group.values())
        ]

    def take_due(
        self, key: GroupKey, wall_now: datetime, now: float | None = None
    ) -> tuple[list[Alert], dict[str, int]]:
        """The group's alerts not sent for a whole interval, each with its repeat number
        (whole intervals since it started firing, at least 1); they count as sent now."""
        now = time.monotonic() if now is None else now
        alerts: list[Alert] = []
        repeats: dict[str, int] = {}
        for entry in self._groups.get(key, {}).values():
            if now - entry.last_sent < self.interval_s:
                continue
            entry.last_sent = now
            alerts.append(entry.alert)
            since = (wall_now - entry.alert.starts_at).total_seconds()
            repeats[entry.alert.fingerprint] = max(1, int(since // self.interval_s))
        return alerts, repeats
