"""Retry classification and back-off, kept apart from the delivery loop (pure).

As in Alertmanager's notify pipeline, :func:`check` decides from a status code alone
whether an attempt succeeded, may be retried or failed for good; the loop in
:mod:`pipeline.notify.delivery` only acts on the verdict. Timeouts and connection
errors have no status: the loop retries them without asking :func:`check`. The delay
between attempts is megawatch's one back-off (:class:`pipeline.core.retry.Backoff`),
jittered, unless the receiver said when to come back (``Retry-After``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

from pipeline.core.retry import Backoff


class Verdict(StrEnum):
    delivered = "delivered"
    retry = "retry"
    failed = "failed"  # permanent: the receiver rejected the request itself


def check(status: int) -> Verdict:
    """2xx delivered; 5xx and 429 retry; any other status (4xx, 3xx) is permanent.

    A 3xx is permanent because httpx does not follow redirects for a POST: the
    configured URL is wrong and retrying cannot fix it.
    """
    if 200 <= status < 300:
        return Verdict.delivered
    if status >= 500 or status == 429:
        return Verdict.retry
    return Verdict.failed


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    Returns None when absent or unparseable (the caller then uses its own back-off),
    and 0 for a date in the past.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often one notification is retried.

    ``give_up_s`` counts from the moment the notification was queued, not from its first
    attempt, so a backlog behind a dead receiver does not multiply the wait; every
    notification still gets at least one attempt.
    """

    give_up_s: float = 900.0
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    request_timeout_s: float = 10.0
    max_attempts: int | None = None  # None: limited by give_up_s only

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Delay after failed attempt ``attempt`` (1-based): capped exponential, jittered
        (receivers recovering from an outage are not hit by all senders at once)."""
        schedule = Backoff(self.initial_backoff_s, self.max_backoff_s, jitter=True)
        return schedule.delay(attempt, rng)

    def next_delay(
        self, attempt: int, retry_after: float | None, rng: random.Random | None = None
    ) -> float:
        """The receiver's ``Retry-After`` when it gave one (it knows its load), else back-off."""
        if retry_after is not None:
            return retry_after
        return self.backoff(attempt, rng)

    def should_give_up(self, attempt: int, elapsed_s: float, delay_s: float) -> bool:
        """True when waiting ``delay_s`` more would pass the give-up time or attempt limit."""
        if self.max_attempts is not None and attempt >= self.max_attempts:
            return True
        return elapsed_s + delay_s > self.give_up_s
