"""Digest findings about the pipeline itself: deliveries that failed or were given up,
and dead letters (pure, from plain records of the named queries)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from pipeline.analytics.ranking import Finding
from pipeline.analytics.time_words import when_text


@dataclass(frozen=True)
class DeliveryTrouble:
    """Deliveries to one receiver that failed or were given up (delivery_outcomes)."""

    receiver: str
    outcome: str  # failed | gave_up
    alerts: int
    first_at: datetime
    last_at: datetime
    latest_error: str


@dataclass(frozen=True)
class DeadLetterGroup:
    topic: str
    reason_code: str
    count: int
    first_at: datetime
    last_at: datetime


def delivery_findings(troubles: Iterable[DeliveryTrouble], now: datetime) -> list[Finding]:
    out = []
    for t in troubles:
        verb = "gave up delivering" if t.outcome == "gave_up" else "was refused"
        what = f"{t.alerts} alert{'s' if t.alerts != 1 else ''}"
        when = when_text(t.first_at, t.last_at, now)
        error = f": {t.latest_error[:80]}" if t.latest_error else ""
        text = f"receiver {t.receiver} {verb} {what} {when}{error}"
        facts = {"outcome": t.outcome, "alerts": t.alerts}
        duration = (t.last_at - t.first_at).total_seconds()
        out.append(
            Finding(
                "delivery_failures",
                "critical",
                f"receiver {t.receiver}/{t.outcome}",
                "",
                duration,
                t.alerts,
                text,
                facts,
            )
        )
    return out


def dead_letter_findings(groups: Iterable[DeadLetterGroup], now: datetime) -> list[Finding]:
    out = []
    for g in groups:
        letters = f"{g.count:,} dead letter{'s' if g.count != 1 else ''}"
        text = (
            f"{g.topic}: {letters} ({g.reason_code or 'no reason code'}) "
            f"{when_text(g.first_at, g.last_at, now)}"
        )
        duration = (g.last_at - g.first_at).total_seconds()
        out.append(
            Finding(
                "dead_letters",
                "info",
                f"{g.topic}/{g.reason_code}",
                "",
                duration,
                g.count,
                text,
                {"count": g.count},
            )
        )
    return out
