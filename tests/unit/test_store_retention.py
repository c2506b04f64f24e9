"""TTL reconciliation plan: which tables change, from system.tables rows."""

from __future__ import annotations

import logging

import pytest

from pipeline.store.retention import TtlChange, plan_ttl_changes

DAYS = {"MEGAWATCH_RETENTION_DAYS": 30, "MEGAWATCH_ROLLUP_RETENTION_DAYS": 730}
RAW = "Rack power (retention: MEGAWATCH_RETENTION_DAYS)"
ROLLUP = "Per minute (retention: MEGAWATCH_ROLLUP_RETENTION_DAYS)"


def _engine(ttl: str) -> str:
    return (
        f"MergeTree PARTITION BY toDate(ts) ORDER BY (site, ts) {ttl} "
        "SETTINGS non_replicated_deduplication_window = 1000, index_granularity = 8192"
    )


def test_only_tables_whose_days_differ_change() -> None:
    rows = [
        ("rack_power", _engine("TTL toDateTime(ts) + toIntervalDay(90)"), RAW),
        ("site_power", _engine("TTL toDateTime(ts) + toIntervalDay(30)"), RAW),
        ("rack_power_1m", _engine("TTL toDateTime(minute) + toIntervalDay(730)"), ROLLUP),
        ("ingest_offsets", "ReplacingMergeTree(max_offset) ORDER BY tbl", "no retention note"),
    ]
    assert plan_ttl_changes(rows, DAYS) == [
        TtlChange("rack_power", "ts", "MEGAWATCH_RETENTION_DAYS", 90, 30)
    ]


def test_rollups_follow_their_own_setting() -> None:
    rows = [("gpu_1m", _engine("TTL toDateTime(`minute`) + toIntervalDay(730)"), ROLLUP)]
    change = plan_ttl_changes(rows, {**DAYS, "MEGAWATCH_ROLLUP_RETENTION_DAYS": 365})[0]
    assert (change.column, change.old_days, change.new_days) == ("minute", 730, 365)
    assert change.ttl_expression == "toDateTime(`minute`) + toIntervalDay(365)"


@pytest.mark.parametrize(
    ("engine", "comment", "logged"),
    [
        (_engine("TTL toDateTime(ts) + toIntervalMonth(3)"), RAW, "no TTL of the form"),
        (_engine(""), RAW, "no TTL of the form"),
        (
            _engine("TTL toDateTime(ts) + toIntervalDay(9)"),
            "(retention: MEGAWATCH_NOPE)",
            "unknown retention setting MEGAWATCH_NOPE",
        ),
    ],
)
def test_unexpected_tables_are_left_alone_and_logged(
    engine: str, comment: str, logged: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="pipeline.store.retention"):
        assert plan_ttl_changes([("custom", engine, comment)], DAYS) == []
    assert logged in caplog.text
