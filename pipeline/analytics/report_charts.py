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
from plotly.subplots import make_subplots

EPISODE_COLORS = {
    "critical": "rgba(214, 39, 40, 0.22)",
    "warning": "rgba(255, 127, 14, 0.2)",
    "info": "rgba(31, 119, 180, 0.15)",
}
CAP_RULES = ("cap_warning", "cap_critical", "cap_forecast")
MAX_SITE_PANELS = 12
LAYOUT: dict[str, Any] = {
    "template": "plotly_white",
    "margin": {"l": 60, "r": 20, "t": 50, "b": 40},
}


def _empty(title: str, note: str) -> go.Figure:
    figure = go.Figure()
    figure.update_layout(title=f"{title}: {note}", height=240, **LAYOUT)
    return figure


def site_power_chart(
    series: pd.DataFrame,
    episodes: pd.DataFrame,
    warn_ratio: dict[str, float],
    sites: list[str],
    until: datetime,
) -> go.Figure:
    """One panel per site (at most 12): average and peak MW per bucket, the cap, the
    warning level, and alert episodes of the cap rules as shaded spans (one still firing
    reaches ``until``, the end of the window)."""
    title = "Site power against cap"
    if series.empty:
        return _empty(title, "no site power in the window")
    shown = sites[:MAX_SITE_PANELS]
    figure = make_subplots(
        rows=len(shown),
        cols=1,
        shared_xaxes=True,
        subplot_titles=shown,
        vertical_spacing=min(0.08, 0.3 / len(shown)),
    )
    for row, site in enumerate(shown, start=1):
        data = series[series["site"] == site]
        first = row == 1
        figure.add_trace(
            go.Scatter(
                x=data["bucket"],
                y=data["avg_mw"],
                name="average MW",
                line={"color": "#1f77b4"},
                legendgroup="avg",
                showlegend=first,
            ),
            row=row,
            col=1,
        )
        figure.add_trace(
            go.Scatter(
                x=data["bucket"],
                y=data["peak_mw"],
                name="peak MW",
                line={"color": "#9ecae1", "dash": "dot"},
                legendgroup="peak",
                showlegend=first,
            ),
            row=row,
            col=1,
        )
        figure.add_trace(
            go.Scatter(
                x=data["bucket"],
                y=data["cap_mw"],
                name="cap MW",
                line={"color": "#d62728", "dash": "dash"},
                legendgroup="cap",
                showlegend=first,
            ),
            row=row,
            col=1,
        )
        ratio = warn_ratio.get(site)
        if ratio:
            figure.add_trace(
                go.Scatter(
                    x=data["bucket"],
                    y=data["cap_mw"] * ratio,
                    name="warning level",
                    legendgroup="warn",
                    line={"color": "#ff7f0e", "dash": "dot"},
                    showlegend=first,
                ),
                row=row,
                col=1,
            )
        _mark_episodes(figure, episodes, site, row, data, until)
    figure.update_yaxes(title_text="MW")
    figure.update_layout(title=title, height=max(320, 230 * len(shown)), **LAYOUT)
    return figure


def _mark_episodes(
    figure: go.Figure,
    episodes: pd.DataFrame,
    site: str,
    row: int,
    data: pd.DataFrame,
    until: datetime,
) -> None:
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
            col=1,
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
            showlegend=row == 1,
            text=[f"{r.rule} ({r.severity}): {r.summary}" for r in mine.itertuples(index=False)],
            hovertemplate="%{x}<br>%{text}<extra></extra>",
        ),
        row=row,
        col=1,
    )


def ledger_chart(ledger: pd.DataFrame) -> go.Figure:
    """Per site: power now and headroom to the cap, stacked (so the bar ends at the cap)."""
    title = "Fleet MW ledger: power now and headroom per site"
    sites = ledger[ledger["level"] == "site"] if not ledger.empty else ledger
    if sites.empty:
        return _empty(title, "no site power in the window")
    labels = [
        f"{r.site} ({r.region})" if r.region else r.site for r in sites.itertuples(index=False)
    ]
    headroom = sites["headroom_mw"].clip(lower=0)
    over = (-sites["headroom_mw"]).clip(lower=0)
    figure = go.Figure(
        [
            go.Bar(
                y=labels, x=sites["now_mw"], name="now MW", orientation="h", marker_color="#1f77b4"
            ),
            go.Bar(
                y=labels, x=headroom, name="headroom MW", orientation="h", marker_color="#c7e9c0"
            ),
            go.Bar(y=labels, x=over, name="over cap MW", orientation="h", marker_color="#d62728"),
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
        height=max(300, 40 * len(labels) + 120),
        **LAYOUT,
    )
    figure.update_yaxes(autorange="reversed")  # the ledger's order, top down
    return figure


def loss_chart(loss: pd.DataFrame) -> go.Figure:
    """Loss % per bucket, one line per WAN link."""
    title = "WAN packet loss over time"
    if loss.empty:
        return _empty(title, "no WAN link traffic in the window")
    figure = go.Figure()
    for (site, link, peer), data in loss.groupby(["site", "link", "peer_site"], sort=True):
        label = f"{link} ({site} to {peer})" if peer else f"{link} ({site})"
        figure.add_trace(
            go.Scatter(x=data["bucket"], y=data["loss_pct"], name=label, mode="lines+markers")
        )
    figure.update_layout(title=title, yaxis_title="loss %", height=420, **LAYOUT)
    return figure


def utilization_chart(points: pd.DataFrame) -> go.Figure:
    """Mean GPU utilization against mean watts per GPU, per bucket, by vendor and model."""
    title = "GPU utilization against power"
    if points.empty:
        return _empty(title, "no GPU samples in the window")
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
