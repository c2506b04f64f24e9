"""Pure parts of ``megawatch alerts``: durations."""

from __future__ import annotations

import click
import pytest

from pipeline.cli.alerts_cmd import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("15m", 900), ("6h", 21600), ("7d", 604800), ("1w", 604800)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1.5h", "h", "10y", "-1m"])
def test_bad_durations_name_the_format(text: str) -> None:
    with pytest.raises(click.BadParameter, match="duration such as"):
        parse_duration(text)
