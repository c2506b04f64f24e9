"""The report's charts: one plotly figure per section, from named-query results.

Each function takes DataFrames as the named queries return them and gives a
``plotly.graph_objects.Figure``; an empty input gives an empty figure titled so, so that
every section always has its chart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go

EPISODE_COLORS = {
    "critical": "rgba(214, 39, 40, 0.22)",
    "warning": "rgba(255, 127, 14, 0.2)",
    "info": "rgba(31, 119, 180, 0.15)",
}
CAP_RULES = ("cap_warning", "cap_critical", "cap_forecast")
LAYOUT: dict[str, Any] = {
    "template": "plotly_white",
    "margin": {"l": 60, "r": 20, "t": 50, "b": 40},
}


def empty_figure(title: str, note: str) -> go.Figure:
    figure = go.Figure()
    figure.update_layout(title=f"{title}: {note}", height=240, **LAYOUT)
    return figure


def mark_episodes(
    figure: go.Figure,
    episodes: pd.DataFrame,
    site: str,
    cell: tuple[int, int],
    data: pd.DataFrame,
    until: datetime,
) -> None:
    """Cap alert episodes of ``site`` as shaded spans in the subplot at ``cell``
    (row, column); one still firing reaches ``until``, the end of the window."""
    row, col = cell
    if episodes.empty:
        return
    mine = episodes[(episodes["site"] == site) & episodes["rule"].isin(CAP_RULES)]
    for episode in mine.itertuples(index=False):
        end = until if pd.isna(episode.ends_at) else episode.ends_at  # still firing: to now
        figure.add_vrect(
            x0=episode.starts_at,
            x1=end,
            line_width=0,
            row=row,
            col=col,
            fillcolor=EPISODE_COLORS.get(episode.severity, EPISODE_COLORS["info"]),
        )
    # hoverable markers: shapes carry no hover text
    figure.add_trace(
        go.Scatter(
            x=mine["starts_at"],
            y=[data["peak_mw"].max()] * len(mine),
            mode="markers",
            marker={"symbol": "triangle-down", "size": 10, "color": "#d62728"},
            name="alert episode",
            legendgroup="alerts",
            showlegend=cell == (1, 1),
            text=[f"{r.rule} ({r.severity}): {r.summary}" for r in mine.itertuples(index=False)],
            hovertemplate="%{x}<br>%{text}<extra></extra>",
        ),
        row=row,
        col=col,
    )


def ledger_bars(sites: pd.DataFrame) -> pd.DataFrame:
    """The stacked segments of each site's bar: ``within_mw`` (power up to the cap),
    then ``headroom_mw`` (to the cap) or ``over_mw`` (past it). A bar ends at the larger
    of power now and the cap: a 5.3 MW site on a 5 MW cap ends at 5.3, not 5.3 + 0.3."""
    now = sites["now_mw"].astype(float)
    cap = sites["cap_mw"].astype(float)
    capped = cap.notna()
    return pd.DataFrame(
        {
            "within_mw": now.where(~capped, now.clip(upper=cap)),
            "headroom_mw": (cap - now).clip(lower=0).where(capped, 0.0),
            "over_mw": (now - cap).clip(lower=0).where(capped, 0.0),
        },
        index=sites.index,
    ).round(3)  # the ledger's precision (kW): no 0.7999999999999998


def ledger_chart(ledger: pd.DataFrame, limit: int = 30) -> go.Figure:
    """Per site, highest share of cap first (at most ``limit``): power now up to the cap,
    then headroom to the cap or the part over it; the peak as a tick."""
    title = "Fleet MW ledger: power now against cap per site"
    sites = ledger[ledger["level"] == "site"] if not ledger.empty else ledger
    if sites.empty:
        return empty_figure(title, "no site power in the window")
    sites = rank_by_share(sites).head(limit)
    if len(ledger[ledger["level"] == "site"]) > limit:
        title += f" (the {limit} closest to their caps)"
    labels = [
        f"{r.site} ({r.region})" if r.region else r.site for r in sites.itertuples(index=False)
    ]
    bars = ledger_bars(sites)
    figure = go.Figure(
        [
            go.Bar(
                y=labels,
                x=bars["within_mw"],
                name="now MW (up to the cap)",
                orientation="h",
                marker_color="#1f77b4",
            ),
            go.Bar(
                y=labels,
                x=bars["headroom_mw"],
                name="headroom MW",
                orientation="h",
                marker_color="#c7e9c0",
            ),
            go.Bar(
                y=labels,
                x=bars["over_mw"],
                name="over cap MW",
                orientation="h",
                marker_color="#d62728",
            ),
            go.Scatter(
                y=labels,
                x=sites["peak_mw"],
                name="peak MW",
                mode="markers",
                marker={"symbol": "line-ns-open", "size": 16, "color": "#08306b"},
            ),
        ]
    )
    figure.update_layout(
        title=title,
        barmode="stack",
        xaxis_title="MW",
        height=max(300, 22 * len(labels) + 140),
        **LAYOUT,
    )
    figure.update_yaxes(autorange="reversed")  # highest share first, top down
    return figure


def rank_by_share(sites: pd.DataFrame) -> pd.DataFrame:
    """Ledger site rows, highest % of cap first; uncapped sites last, by power."""
    return (
        sites.assign(_share=sites["pct_of_cap"].astype(float))
        .sort_values(["_share", "now_mw"], ascending=False, na_position="last")
        .drop(columns="_share")
    )


def utilization_chart(points: pd.DataFrame) -> go.Figure:
    """Mean GPU utilization against mean watts per GPU, per bucket, by vendor and model."""
    title = "GPU utilization against power"
    if points.empty:
        return empty_figure(title, "no GPU samples in the window")
    figure = go.Figure()
    for (vendor, model), data in points.groupby(["vendor", "model"], sort=True):
        name = " ".join(part for part in (vendor, model) if part) or "unknown"
        figure.add_trace(
            go.Scatter(
                x=data["avg_util_pct"],
                y=data["avg_power_w"],
                mode="markers",
                name=name,
                text=[f"{r.site} {r.bucket}" for r in data.itertuples(index=False)],
                hovertemplate="%{text}<br>%{x:.1f} % busy, %{y:.0f} W<extra></extra>",
            )
        )
    figure.update_layout(
        title=title,
        xaxis_title="mean utilization %",
        yaxis_title="mean power per GPU (W)",
        height=460,
        **LAYOUT,
    )
    return figure
