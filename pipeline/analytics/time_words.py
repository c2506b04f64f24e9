"""Times in the digest's sentences, as an operator reads them (UTC): ``14:02`` on the
digest's day, ``Nov 19 14:02`` on another, spans with the date written once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def span_text(start: datetime, end: datetime, now: datetime, joint: str) -> str:
    """``14:02-14:19`` today, ``Nov 29 14:02-14:19`` on another day, the date written once
    when both ends share it (UTC)."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if start.date() != end.date():
        return f"{clock_text(start, now)}{joint}{clock_text(end, now)}"
    return f"{clock_text(start, now)}{joint}{end:%H:%M}"


def when_text(first: datetime, last: datetime, now: datetime) -> str:
    if last - first < timedelta(minutes=1):
        return f"at {clock_text(first, now)}"
    return f"between {span_text(first, last, now, ' and ')}"


def clock_text(at: datetime, now: datetime) -> str:
    """``14:02`` on the digest's day, ``Nov 19 14:02`` on another (UTC)."""
    at, now = at.astimezone(UTC), now.astimezone(UTC)
    return f"{at:%H:%M}" if at.date() == now.date() else f"{date_text(at, now)} {at:%H:%M}"


def date_text(at: datetime, now: datetime) -> str:
    """``Dec 4``, or ``Jan 3 2027`` in another year."""
    text = f"{at:%b} {at.day}"
    return text if at.year == now.year else f"{text} {at.year}"
