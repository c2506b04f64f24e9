"""`megawatch sql` output: table, csv and json renderings of a query result."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from pipeline.analytics.render import render_frame


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "site": pd.Series(["ams-1", "fra-22"], dtype="string"),
            "ts": pd.Series(
                [datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC), pd.NaT],
                dtype="datetime64[ms, UTC]",
            ),
            "day": pd.Series([datetime(2026, 1, 2), datetime(2026, 1, 3)], dtype="datetime64[s]"),
            "watts": [1500.5, None],
            "racks": pd.Series([3, 12], dtype="uint32"),
            "tags": [["a", "b"], []],
        }
    )


def test_json_is_records_with_iso_utc_times() -> None:
    records = json.loads(render_frame(_frame(), "json"))
    assert records == [
        {
            "site": "ams-1",
            "ts": "2026-01-02T03:04:05.678Z",
            "day": "2026-01-02",
            "watts": 1500.5,
            "racks": 3,
            "tags": ["a", "b"],
        },
        {"site": "fra-22", "ts": None, "day": "2026-01-03", "watts": None, "racks": 12, "tags": []},
    ]


def test_json_converts_other_zones_to_utc() -> None:
    frame = pd.DataFrame(
        {
            "t": pd.Series([datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)]).dt.tz_convert(
                "America/New_York"
            )
        }
    )
    assert json.loads(render_frame(frame, "json")) == [{"t": "2026-01-02T03:04:05.000Z"}]


def test_csv_has_a_header_and_plain_values() -> None:
    assert render_frame(_frame(), "csv").splitlines() == [
        "site,ts,day,watts,racks,tags",
        'ams-1,2026-01-02T03:04:05.678Z,2026-01-02,1500.5,3,"[""a"",""b""]"',
        "fra-22,,2026-01-03,,12,[]",
    ]


def test_table_aligns_text_left_and_numbers_right() -> None:
    assert render_frame(_frame(), "table").splitlines() == [
        "site    ts                        day          watts  racks  tags",
        'ams-1   2026-01-02T03:04:05.678Z  2026-01-02  1500.5      3  ["a","b"]',
        "fra-22                            2026-01-03             12  []",
    ]


def test_statement_without_result_prints_nothing() -> None:
    assert render_frame(pd.DataFrame(), "table") == ""
    assert render_frame(pd.DataFrame(), "csv") == ""
    assert render_frame(pd.DataFrame(), "json") == "[]"


def test_floats_carry_no_binary_noise() -> None:
    """3.8303000000000003 (a sum of float readings) prints as 3.8303 in every format."""
    frame = pd.DataFrame({"mw": [3.8303000000000003, 5312345.678, 0.1 + 0.2, 1e-7]})
    assert render_frame(frame, "csv").splitlines() == [
        "mw",
        "3.8303",
        "5312345.678",
        "0.3",
        "0.0000001",
    ]
    table = render_frame(frame, "table").splitlines()
    assert table[1] == "     3.8303" and table[2] == "5312345.678"  # numbers to the right
    assert json.loads(render_frame(frame, "json")) == [
        {"mw": 3.8303},
        {"mw": 5312345.678},
        {"mw": 0.3},
        {"mw": 1e-7},
    ]
    assert "0000000" not in render_frame(frame, "json")


def test_single_precision_floats_print_to_their_own_precision() -> None:
    """A Float32 column (alert_deliveries.latency_ms) rounded to 3.9 is 3.9000000953674316
    as a double: it prints as 3.9, in every format, the way every command prints it."""
    frame = pd.DataFrame(
        {
            "latency_ms": np.array([3.9, 0.1, 1234.5, np.nan], dtype=np.float32),
            "mw": [3.8303000000000003, 0.5, 1.0, 2.0],
        }
    )
    assert render_frame(frame, "csv").splitlines() == [
        "latency_ms,mw",
        "3.9,3.8303",
        "0.1,0.5",
        "1234.5,1",
        ",2",
    ]
    assert render_frame(frame, "table").splitlines()[1] == "       3.9  3.8303"
    assert json.loads(render_frame(frame, "json"))[:2] == [
        {"latency_ms": 3.9, "mw": 3.8303},
        {"latency_ms": 0.1, "mw": 0.5},
    ]
