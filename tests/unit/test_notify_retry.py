"""Retry classification and back-off: the pure half of the retry stage."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from pipeline.notify.retry import RetryPolicy, Verdict, check, parse_retry_after


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.delivered),
        (202, Verdict.delivered),
        (204, Verdict.delivered),
        (500, Verdict.retry),
        (502, Verdict.retry),
        (503, Verdict.retry),
        (429, Verdict.retry),
        (400, Verdict.failed),
        (401, Verdict.failed),
        (404, Verdict.failed),
        (410, Verdict.failed),
        (301, Verdict.failed),
    ],
)
def test_check_classifies_status(status: int, verdict: Verdict) -> None:
    assert check(status) is verdict


def test_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0 ") == 0.0
    later = format_datetime(now + timedelta(seconds=42), usegmt=True)
    assert parse_retry_after(later, now=now) == pytest.approx(42.0)
    earlier = format_datetime(now - timedelta(seconds=42), usegmt=True)
    assert parse_retry_after(earlier, now=now) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5e3"])
def test_retry_after_unusable_values_are_ignored(value: str | None) -> None:
    assert parse_retry_after(value) is None


def test_backoff_grows_exponentially_within_jitter_and_is_capped() -> None:
    policy = RetryPolicy(initial_backoff_s=0.5, max_backoff_s=4.0)
    rng = random.Random(7)
    for attempt, step in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0), (12, 4.0)]:
        delays = [policy.backoff(attempt, rng) for _ in range(200)]
        assert min(delays) >= step / 2
        assert max(delays) <= step
        assert max(delays) - min(delays) > step / 10  # jitter is real


def test_retry_after_overrides_backoff() -> None:
    policy = RetryPolicy(initial_backoff_s=0.5, max_backoff_s=4.0)
    assert policy.next_delay(1, 7.0) == 7.0
    assert policy.next_delay(6, 0.0) == 0.0
    assert 0.25 <= policy.next_delay(1, None) <= 0.5


def test_give_up_counts_from_queueing_and_attempt_limit() -> None:
    policy = RetryPolicy(give_up_s=10.0)
    assert not policy.should_give_up(attempt=3, elapsed_s=5.0, delay_s=4.9)
    assert policy.should_give_up(attempt=3, elapsed_s=5.0, delay_s=5.1)
    limited = RetryPolicy(give_up_s=1000.0, max_attempts=2)
    assert not limited.should_give_up(1, 0.0, 0.1)
    assert limited.should_give_up(2, 0.0, 0.1)
