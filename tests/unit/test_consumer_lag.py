"""Consumer lag counts the messages waiting in the broker (issue 10 item 10).

The worker's fetch high watermark of a partition it no longer fetches (paused by
back-pressure, its stream buffer full) goes stale, and the embedded broker's ListOffsets
answer is short: lag read from either showed 0 while messages waited. The true end read
in the background (``ends``) now counts as well.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from faust.types import TP

from pipeline.worker.services import consumer_lag

RACKS = TP("telemetry.rack_power", 0)
GPU = TP("telemetry.gpu", 1)
CHANGELOG = TP("megawatch-alert_states-changelog", 0)


class ConsumerState:
    """What consumer_lag reads of Faust's consumer: assignment, fetch high watermarks,
    the offset of the last message read into the streams."""

    def __init__(self, highwater: dict[TP, int | None], read: dict[TP, int]) -> None:
        self._highwater = highwater
        self._read_offset = read

    def assignment(self) -> set[TP]:
        return set(self._highwater)

    def highwater(self, tp: TP) -> int | None:
        return self._highwater[tp]


def app_with(consumer: ConsumerState) -> Any:
    return SimpleNamespace(consumer=consumer)


def test_a_partition_not_fetched_any_more_still_shows_its_waiting_messages() -> None:
    consumer = ConsumerState({RACKS: 10, GPU: None, CHANGELOG: 5}, {RACKS: 9, GPU: 99})
    ends = {("telemetry.rack_power", 0): 50, ("telemetry.gpu", 1): 120}
    lag = consumer_lag(app_with(consumer), ends)
    assert lag == {("telemetry.rack_power", 0): 40, ("telemetry.gpu", 1): 20}


def test_a_fresher_fetch_watermark_wins_over_an_older_true_end() -> None:
    consumer = ConsumerState({RACKS: 70}, {RACKS: 59})
    assert consumer_lag(app_with(consumer), {("telemetry.rack_power", 0): 50}) == {
        ("telemetry.rack_power", 0): 10
    }


def test_without_known_ends_the_fetch_watermark_is_used() -> None:
    consumer = ConsumerState({RACKS: 10}, {})
    assert consumer_lag(app_with(consumer)) == {("telemetry.rack_power", 0): 10}
