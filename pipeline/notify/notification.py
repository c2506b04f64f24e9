"""What one request to one receiver carries: a group of alerts of one site and rule.

A :class:`Notification` lists at most ``max_alerts`` alerts and counts the rest
(``truncated``), as Alertmanager's ``truncatedAlerts`` does. Each listed alert has an
idempotency key ``<fingerprint>:<seq>``; a repeat of a still-firing alert adds
``:r<n>`` (n = whole repeat intervals since it started firing), so a receiver that
dedupes drops redeliveries of the same notification but not the reminders.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from pipeline.events import Alert, AlertStatus

#: Called once when the receiver is done with an alert (delivered, failed or gave up).
DoneCallback = Callable[[], None]

_serial = itertools.count(1)


class Purpose(StrEnum):
    change = "change"  # a state change read from the alerts topic (outbox)
    repeat = "repeat"  # a reminder that an alert still fires (repeat interval)
    resend = "resend"  # Alertmanager API keep-alive of firing alerts (resend interval)


@dataclass(frozen=True)
class GroupKey:
    site: str
    rule: str

    @classmethod
    def of(cls, alert: Alert) -> GroupKey:
        return cls(alert.site, alert.rule)

    def __str__(self) -> str:
        """Alertmanager's groupKey shape: route key, then the grouping labels."""
        return "{}:" + f'{{alertname="{self.rule}", site="{self.site}"}}'


@dataclass(frozen=True)
class Pending:
    """An alert waiting in a receiver's queue, with the hook that completes it."""

    alert: Alert
    done: DoneCallback | None = None


@dataclass
class Notification:
    receiver: str
    group: GroupKey
    listed: tuple[Alert, ...]
    left_out: tuple[Alert, ...] = ()
    purpose: Purpose = Purpose.change
    repeats: dict[str, int] = field(default_factory=dict)  # fingerprint -> repeat number
    queued_at: float = field(default_factory=time.monotonic)
    completions: tuple[DoneCallback, ...] = ()
    serial: int = field(default_factory=lambda: next(_serial))

    @property
    def all_alerts(self) -> tuple[Alert, ...]:
        return self.listed + self.left_out

    @property
    def truncated(self) -> int:
        return len(self.left_out)

    @property
    def status(self) -> AlertStatus:
        """Firing while any alert of the group fires, as in Alertmanager."""
        firing = any(a.status is AlertStatus.firing for a in self.all_alerts)
        return AlertStatus.firing if firing else AlertStatus.resolved

    @property
    def test(self) -> bool:
        return any(a.test for a in self.listed)

    def key_of(self, alert: Alert) -> str:
        base = f"{alert.fingerprint}:{alert.seq}"
        repeat = self.repeats.get(alert.fingerprint)
        return f"{base}:r{repeat}" if repeat is not None else base

    @property
    def idempotency_key(self) -> str:
        """The header value: the listed alerts' keys, comma-separated (one for one alert)."""
        return ", ".join(self.key_of(a) for a in self.listed)

    def complete(self) -> None:
        """Tell every waiting alert that this receiver is done with it (once)."""
        completions, self.completions = self.completions, ()
        for done in completions:
            done()


def split_listed(
    alerts: list[Alert], max_alerts: int
) -> tuple[tuple[Alert, ...], tuple[Alert, ...]]:
    """The first ``max_alerts`` are listed, the rest left out (counted as truncated)."""
    return tuple(alerts[:max_alerts]), tuple(alerts[max_alerts:])
