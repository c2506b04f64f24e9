"""Named query files: header parsing, parameter checking and conversion (no store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from pipeline.errors import QueryError
from pipeline.store.named import get_query, load_queries, named_queries, parse_query

NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)

SAMPLE = """-- description: Racks by power
-- param: site String ''
-- param: kind String 'wan'
-- param: since_s UInt32 86400
-- param: until DateTime64(3,'UTC') now
-- param: limit UInt16
-- param: factor Float64 1.5
SELECT * FROM t WHERE site = {site:String} AND kind = {kind:String}
  AND ts >= {until:DateTime64(3,'UTC')} - toIntervalSecond({since_s:UInt32})
LIMIT {limit:UInt16}
SETTINGS x = {factor:Float64};
"""


def sample():
    return parse_query("racks", SAMPLE)


def test_header_is_parsed() -> None:
    query = sample()
    assert query.description == "Racks by power"
    assert [(p.name, p.type, p.default) for p in query.params] == [
        ("site", "String", ""),
        ("kind", "String", "wan"),
        ("since_s", "UInt32", "86400"),
        ("until", "DateTime64(3,'UTC')", "now"),
        ("limit", "UInt16", None),
        ("factor", "Float64", "1.5"),
    ]
    assert query.param("limit").required and not query.param("site").required
    assert not query.sql.endswith(";")


def test_bind_fills_defaults_and_converts_text() -> None:
    bound = sample().bind({"limit": "20"}, now=NOW)
    assert bound == {
        "site": "",
        "kind": "wan",
        "since_s": 86400,
        "until": "2026-11-20 08:00:00.000",
        "limit": 20,
        "factor": 1.5,
    }


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90),
        ("90s", 90),
        ("15m", 900),
        ("6h", 21600),
        ("7d", 604800),
        ("1w", 604800),
        (3600, 3600),
    ],
)
def test_seconds_parameters_take_durations(text: object, seconds: int) -> None:
    assert sample().bind({"limit": 1, "since_s": text}, now=NOW)["since_s"] == seconds


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-19T10:00:00Z", "2026-11-19 10:00:00.000"),
        ("2026-11-19T12:00:00+02:00", "2026-11-19 10:00:00.000"),  # converted to UTC
        ("2026-11-19 10:00:00.250", "2026-11-19 10:00:00.250"),  # naive: read as UTC
        (
            datetime(2026, 11, 19, 11, tzinfo=timezone(timedelta(hours=1))),
            "2026-11-19 10:00:00.000",
        ),
        ("now", "2026-11-20 08:00:00.000"),
    ],
)
def test_times_become_utc_text(value: object, expected: str) -> None:
    assert sample().bind({"limit": 1, "until": value}, now=NOW)["until"] == expected


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "query racks: parameter 'limit' is required (--param limit=VALUE, a UInt16)"),
        ({"limit": "ten"}, "parameter limit=ten is not a valid UInt16 (expected a whole number)"),
        ({"limit": "70000"}, "parameter limit=70000 is not a valid UInt16 (out of range 0..65535)"),
        ({"limit": "-1"}, "out of range 0..65535"),
        ({"limit": True}, "not a valid UInt16"),
        ({"limit": 1, "since_s": "6 hours"}, "a duration such as 15m, 24h, 7d"),
        ({"limit": 1, "until": "yesterday"}, "expected an ISO-8601 time"),
        ({"limit": 1, "factor": "big"}, "parameter factor=big is not a valid Float64"),
        ({"limit": 1, "sight": "x"}, "unknown parameter 'sight' (parameters: site, kind, since_s"),
    ],
)
def test_bad_parameters_are_one_line_query_errors(values: dict, message: str) -> None:
    with pytest.raises(QueryError) as caught:
        sample().bind(values, now=NOW)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SELECT 1", "must start with a '-- description: ...' line"),
        ("-- param: x UInt8 1\n-- description: late\nSELECT {x:UInt8}", "must start with"),
        ("-- description: d\nSELECT {x:UInt8}", "{x:UInt8} is not declared as '-- param: x UInt8'"),
        ("-- description: d\n-- param: x UInt16\nSELECT {x:UInt8}", "is not declared"),
        ("-- description: d\n-- param: x UInt8\nSELECT 1", "parameter x is declared but not used"),
    ],
)
def test_malformed_files_are_refused(text: str, message: str) -> None:
    with pytest.raises(QueryError, match=r"query file q\.sql: ") as caught:
        parse_query("q", text)
    assert message in str(caught.value)


def test_unknown_name_suggests_the_closest_or_lists_the_known_ones() -> None:
    with pytest.raises(QueryError) as caught:
        get_query("fleet_ledgr")
    assert "unknown named query 'fleet_ledgr': did you mean fleet_ledger" in str(caught.value)
    with pytest.raises(QueryError) as caught:
        get_query("zzz")
    assert "unknown named query 'zzz': known: alert_history," in str(caught.value)


def test_every_bundled_query_parses_and_has_a_window() -> None:
    queries = named_queries()
    assert {
        "fleet_ledger",
        "site_headroom",
        "top_racks",
        "sites_above_warning",
        "gpu_efficiency",
        "idle_power",
        "link_loss",
        "wan_loss_by_site_pair",
        "alert_history",
        "dead_letters",
    } <= set(queries)
    for query in queries.values():
        assert query.description and len(query.description) < 140, query.name
        assert query.param("until") is not None and query.param("since_s") is not None
        # every parameter has a default, so every query runs without --param
        assert not [p.name for p in query.params if p.required], query.name


def test_load_queries_from_a_directory(tmp_path: Path) -> None:
    (tmp_path / "a.sql").write_text("-- description: A\nSELECT 1;\n")
    (tmp_path / "notes.txt").write_text("not a query")
    assert list(load_queries(tmp_path)) == ["a"]
    with pytest.raises(QueryError, match="not found"):
        load_queries(tmp_path / "missing")
