"""When the worker sends the daily digest (MEGAWATCH_DIGEST_SCHEDULE_UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from pipeline.analytics.schedule import next_run_at
from pipeline.errors import ConfigError
from pipeline.settings import load_settings


@pytest.mark.parametrize(
    ("now", "schedule", "expected"),
    [
        (
            datetime(2026, 11, 20, 7, 59, 59, tzinfo=UTC),
            "08:00",
            datetime(2026, 11, 20, 8, 0, tzinfo=UTC),
        ),
        # exactly at the time: that run is being made, the next is tomorrow
        (
            datetime(2026, 11, 20, 8, 0, tzinfo=UTC),
            "08:00",
            datetime(2026, 11, 21, 8, 0, tzinfo=UTC),
        ),
        (
            datetime(2026, 11, 20, 8, 0, 1, tzinfo=UTC),
            "08:00",
            datetime(2026, 11, 21, 8, 0, tzinfo=UTC),
        ),
        (
            datetime(2026, 12, 31, 23, 30, tzinfo=UTC),
            "00:15",
            datetime(2027, 1, 1, 0, 15, tzinfo=UTC),
        ),
        # a clock in another zone: 09:30 at UTC+2 is 07:30 UTC
        (
            datetime(2026, 11, 20, 9, 30, tzinfo=timezone(timedelta(hours=2))),
            "08:00",
            datetime(2026, 11, 20, 8, 0, tzinfo=UTC),
        ),
    ],
)
def test_next_run_at(now: datetime, schedule: str, expected: datetime) -> None:
    assert next_run_at(now, schedule) == expected


def test_schedule_setting_is_off_by_default_and_checked() -> None:
    assert load_settings().digest_schedule_utc is None
    assert load_settings(digest_schedule_utc="23:59").digest_schedule_utc == "23:59"
    for bad in ("8:00", "24:00", "08:60", "8am"):
        with pytest.raises(
            ConfigError, match="MEGAWATCH_DIGEST_SCHEDULE_UTC: expected a UTC time of day as HH:MM"
        ):
            load_settings(digest_schedule_utc=bad)
