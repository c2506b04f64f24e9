"""The load-skew detector (pure) and its rate-limited warning."""

from __future__ import annotations

import logging

import pytest

from pipeline.worker.skew import Skew, SkewWatch, concentrated


@pytest.mark.parametrize(
    ("readings", "owned", "expected"),
    [
        ({0: 7_500, 1: 1_500, 2: 1_000}, 3, Skew(0, 0.75, 3)),  # the benchmark's 75 %
        ({0: 5_000, 1: 5_000}, 2, None),  # even
        ({0: 5_000, 1: 4_999}, 2, Skew(0, 5_000 / 9_999, 2)),  # just over half
        ({3: 10_000}, 4, Skew(3, 1.0, 4)),  # owns four, one carries everything
        ({3: 10_000}, 1, None),  # owns one: nothing to re-balance
        ({0: 900, 1: 10}, 2, None),  # too few readings to judge
        ({0: 1_000, 1: 1_000, 2: 1_000, 5: 2_000}, 4, None),  # 40 %: spread enough
        ({}, 3, None),
    ],
)
def test_concentrated(readings: dict[int, int], owned: int, expected: Skew | None) -> None:
    assert concentrated(readings, owned) == expected


def test_owned_counts_partitions_seen() -> None:
    # the assignment may lag behind what was read: two partitions read means two owned
    assert concentrated({0: 9_000, 1: 1_000}, owned=0) == Skew(0, 0.9, 2)


def test_watch_judges_per_window_and_rate_limits(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    watch = SkewWatch(window_s=60, warn_every_s=600, clock=lambda: now[0])
    asked: list[int] = []

    def owned() -> int:
        asked.append(1)
        return 3

    def minute(counts: dict[int, int]) -> Skew | None:
        for partition, n in counts.items():
            watch.add(partition, n)
        now[0] += 60
        return watch.check(owned)

    caplog.set_level(logging.WARNING, logger="pipeline.worker.skew")
    watch.add(0, 9_000)
    assert watch.check(owned) is None and not asked  # window not over: owned not asked
    now[0] = 60
    assert watch.check(owned) == Skew(0, 1.0, 3)
    assert len(caplog.records) == 1
    assert "partition 0 carried 100% " in caplog.records[0].getMessage()
    assert minute({1: 8_000, 2: 100}) == Skew(1, 8_000 / 8_100, 3)  # new window, new counts
    assert len(caplog.records) == 1  # still skewed, but warned less than 600 s ago
    assert minute({0: 3_000, 1: 3_000, 2: 3_000}) is None
    now[0] = 700
    watch.add(2, 5_000)
    assert watch.check(owned) == Skew(2, 1.0, 3)
    assert len(caplog.records) == 2


def test_metrics_count_per_partition_and_judge_with_the_assignment(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from pipeline.worker.metrics import Metrics

    metrics = Metrics()
    now = [0.0]
    metrics.skew = SkewWatch(window_s=60, clock=lambda: now[0])
    # four partitions of each telemetry topic assigned, and the alerts topic's partition 9
    metrics.live.lag = lambda: {
        **{(t, p): 0 for t in ("telemetry.rack_power", "telemetry.gpu") for p in range(4)},
        ("alerts", 9): 0,
    }
    caplog.set_level(logging.WARNING, logger="pipeline.worker.skew")
    metrics.on_readings("telemetry.rack_power", 2, 6_000)
    metrics.on_readings("telemetry.gpu", 2, 2_000)
    metrics.on_readings("telemetry.rack_power", 1, 1_000)
    assert metrics.owned_partitions() == 4
    now[0] = 61
    metrics.on_readings("telemetry.rack_power", 0, 1_000)  # closes the window
    assert "partition 2 carried 80% " in caplog.text and "owns 4 partitions" in caplog.text
    value = metrics.registry.get_sample_value
    assert value("megawatch_partition_readings_total", {"partition": "2"}) == 8_000
    assert value("megawatch_readings_total", {"topic": "telemetry.rack_power"}) == 8_000


def test_the_warning_and_the_metric_name_the_heaviest_keys(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A partition made heavy by a site's shards: the warning and
    megawatch_partition_key_readings name them (what to re-key or split)."""
    from pipeline.worker.metrics import Metrics

    now = [0.0]
    metrics = Metrics()
    metrics.skew = SkewWatch(window_s=60, clock=lambda: now[0])
    metrics.live.lag = lambda: {("telemetry.rack_power", p): 0 for p in range(3)}
    caplog.set_level(logging.WARNING, logger="pipeline.worker.skew")
    for key, n in (("gw-1/hall-2", 6_000), ("gw-1/hall-7", 2_000), ("edge-3", 1_000)):
        metrics.on_readings("telemetry.rack_power", 1, n, key)
    metrics.on_readings("telemetry.rack_power", 2, 1_000, "edge-9")
    now[0] = 60
    metrics.on_readings("telemetry.rack_power", 2, 1, "edge-9")
    message = caplog.records[0].getMessage()
    assert "partition 1 carried 90% " in message
    assert "(its keys: gw-1/hall-2 67%, gw-1/hall-7 22%, edge-3 11%)" in message
    got = {
        (sample.labels["partition"], sample.labels["key"]): sample.value
        for family in metrics.registry.collect()
        for sample in family.samples
        if sample.name == "megawatch_partition_key_readings"
    }
    assert got == {
        ("1", "gw-1/hall-2"): 6_000,
        ("1", "gw-1/hall-7"): 2_000,
        ("1", "edge-3"): 1_000,
        ("2", "edge-9"): 1_001,
    }
