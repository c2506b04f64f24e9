"""The report's time axes are right for one hour and for thirty days (issue 24 item 5):
every axis spans the report's window, a lone heatmap column is as wide as its bucket
(not 1 ms, labelled 05:59:59.9996), and the small multiples share one x range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from pipeline.analytics.report_fleet import share_heatmap, site_multiples

END = datetime(2026, 11, 20, 6, 2, tzinfo=UTC)


def series(sites: dict[str, list[datetime]]) -> pd.DataFrame:
    """site_headroom rows: each site at 80 % of a 5 MW cap in the given buckets."""
    rows = [
        {
            "site": site,
            "bucket": pd.Timestamp(at),
            "avg_mw": 4.0,
            "peak_mw": 4.2,
            "cap_mw": 5.0,
        }
        for site, stamps in sites.items()
        for at in stamps
    ]
    return pd.DataFrame(rows)


def as_time(value: object) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


@pytest.mark.parametrize(
    ("span", "bucket"),
    [(timedelta(hours=1), timedelta(minutes=1)), (timedelta(days=30), timedelta(hours=1))],
)
def test_one_heatmap_column_is_as_wide_as_its_bucket(span: timedelta, bucket: timedelta) -> None:
    """Two minutes of demo data in a one-hour (or thirty-day) window: one column."""
    data = series({"a": [datetime(2026, 11, 20, 6, 0, tzinfo=UTC)]})
    window = (END - span, END)
    figure = share_heatmap(data, ["a"], window)
    [trace] = figure.data
    edges = [as_time(x) for x in trace.x]
    assert len(edges) == trace.z.shape[1] + 1 == 2
    assert edges[1] - edges[0] == bucket
    assert [as_time(x) for x in figure.layout.xaxis.range] == list(window)


def test_heatmap_gaps_are_empty_cells_not_skipped_columns() -> None:
    hour = [datetime(2026, 11, 20, h, tzinfo=UTC) for h in (0, 1, 5)]
    data = series({"a": hour})
    figure = share_heatmap(data, ["a"], (datetime(2026, 11, 19, 6, tzinfo=UTC), END))
    [trace] = figure.data
    assert len(trace.x) == 7  # 00:00 ... 05:00 and the end of the last hour
    assert pd.isna(trace.z[0]).tolist() == [False, False, True, True, True, False]


def test_small_multiples_share_one_x_range() -> None:
    """Sites with data in different parts of the window still line up, column by column."""
    base = datetime(2026, 11, 20, 5, 10, tzinfo=UTC)
    data = series(
        {
            "a": [base + timedelta(minutes=m) for m in range(5)],
            "b": [base + timedelta(minutes=30 + m) for m in range(5)],
            "c": [base + timedelta(minutes=50)],
            "d": [base + timedelta(minutes=m) for m in range(0, 52, 2)],
        }
    )
    window = (END - timedelta(hours=1), END)
    figure = site_multiples(data, pd.DataFrame(), {}, ["a", "b", "c", "d"], window)
    axes = [name for name in figure.layout if name.startswith("xaxis")]
    assert len(axes) == 6  # a grid of 2 rows of 3
    ranges = {tuple(as_time(x) for x in figure.layout[name].range) for name in axes}
    assert ranges == {window}
    # one axis leads, the others match it: zooming one cell zooms them all
    leads = {figure.layout[name].matches or name.replace("axis", "") for name in axes}
    assert len(leads) == 1
