"""The report's fleet-scale charts: readable with 150 sites as with 3.

* a heatmap of % of cap by site and hour (every site, closest to its cap on top),
* small multiples of the top N sites (a grid, not one chart per site stacked),
* the links that matter first: the lossiest few drawn, the rest counted.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from pipeline.analytics.report_charts import LAYOUT, empty_figure, mark_episodes

Window = tuple[datetime, datetime]  # the report's start and end
MULTIPLES = 12  # small multiples: the 12 sites closest to their caps
COLUMNS = 3
LOSSY_LINKS = 8


def heat_bucket(span_s: float) -> tuple[str, str]:
    """pandas frequency and its label: hours from 12 h of window on, finer below."""
    if span_s >= 12 * 3600:
        return "h", "hour"
    if span_s >= 2 * 3600:
        return "10min", "10 minutes"
    return "min", "minute"


def window_range(window: Window) -> list[str]:
    """An x axis range of exactly the report's window (UTC), so that every time axis of
    the page spans the same hours, whatever the data covers."""
    return [f"{at.astimezone(UTC):%Y-%m-%d %H:%M:%S}" for at in window]


def share_heatmap(series: pd.DataFrame, sites: list[str], window: Window) -> go.Figure:
    """% of cap (mean power / cap) per site and time bucket; uncapped sites are left out.

    Columns are given by their edges (one more than there are columns), so a cell is as
    wide as its bucket even when the window holds one bucket (plotly would otherwise
    make a lone column 1 ms wide and label the axis in fractions of a second)."""
    title = "% of cap by site and hour"
    capped = series[series["cap_mw"] > 0] if not series.empty else series
    if capped.empty:
        return empty_figure(title, "no capped site in the window")
    freq, label = heat_bucket((window[1] - window[0]).total_seconds())
    frame = capped.assign(
        slot=pd.to_datetime(capped["bucket"]).dt.floor(freq),
        pct=100 * capped["avg_mw"] / capped["cap_mw"],
    )
    grid = frame.pivot_table(index="site", columns="slot", values="pct", aggfunc="mean")
    slots = pd.date_range(grid.columns.min(), grid.columns.max(), freq=freq)
    order = [site for site in sites if site in grid.index]
    grid = grid.reindex(index=order, columns=slots)  # a gap is an empty cell, not skipped
    edges = [*slots, slots[-1] + pd.tseries.frequencies.to_offset(freq)]
    figure = go.Figure(
        go.Heatmap(
            z=grid.to_numpy(),
            x=edges,
            y=list(grid.index),
            zmin=50,
            zmax=110,
            colorscale=[
                [0, "#f7fbff"],
                [0.5, "#6baed6"],
                [0.67, "#fdae6b"],
                [0.84, "#e6550d"],
                [1, "#a50f15"],
            ],
            colorbar={"title": "% of cap"},
            hovertemplate="%{y}<br>%{x}<br>%{z:.1f} % of cap<extra></extra>",
        )
    )
    figure.update_layout(
        title=f"{title if label == 'hour' else f'% of cap by site and {label}'} "
        f"({len(order)} capped sites, closest to their caps on top)",
        height=max(320, 11 * len(order) + 140),
        **LAYOUT,
    )
    figure.update_yaxes(autorange="reversed", tickfont={"size": 9}, dtick=1)
    figure.update_xaxes(range=window_range(window))
    return figure


def site_multiples(
    series: pd.DataFrame,
    episodes: pd.DataFrame,
    warn_ratio: dict[str, float],
    sites: list[str],
    window: Window,
) -> go.Figure:
    """A grid of the top :data:`MULTIPLES` sites: average and peak MW, the cap, the
    warning level, and their cap alerts' episodes shaded; every cell on one time axis
    (the report's window), so that the same moment lines up in every column."""
    title = "Site power against cap"
    if series.empty:
        return empty_figure(title, "no site power in the window")
    shown = sites[:MULTIPLES]
    rows = -(-len(shown) // COLUMNS)
    figure = make_subplots(
        rows=rows,
        cols=min(COLUMNS, len(shown)),
        subplot_titles=shown,
        shared_xaxes="all",
        vertical_spacing=min(0.08, 0.35 / rows),
        horizontal_spacing=0.05,
    )
    for number, site in enumerate(shown):
        row, col = number // COLUMNS + 1, number % COLUMNS + 1
        data = series[series["site"] == site]
        first = number == 0
        lines = [
            ("average MW", "avg_mw", {"color": "#1f77b4"}),
            ("peak MW", "peak_mw", {"color": "#9ecae1", "dash": "dot"}),
            ("cap MW", "cap_mw", {"color": "#d62728", "dash": "dash"}),
        ]
        for name, column, line in lines:
            figure.add_trace(
                go.Scatter(
                    x=data["bucket"],
                    y=data[column],
                    name=name,
                    line=line,
                    legendgroup=name,
                    showlegend=first,
                ),
                row=row,
                col=col,
            )
        ratio = warn_ratio.get(site)
        if ratio:
            figure.add_trace(
                go.Scatter(
                    x=data["bucket"],
                    y=data["cap_mw"] * ratio,
                    name="warning level",
                    line={"color": "#ff7f0e", "dash": "dot"},
                    legendgroup="warn",
                    showlegend=first,
                ),
                row=row,
                col=col,
            )
        mark_episodes(figure, episodes, site, (row, col), data, window[1])
    figure.update_yaxes(title_text="MW", col=1)
    figure.update_xaxes(range=window_range(window))
    figure.update_layout(title=title, height=max(320, 260 * rows), **LAYOUT)
    return figure


def lossy_links(loss: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The :data:`LOSSY_LINKS` links with the highest loss over the window (at least
    one drop), and how many other links there are."""
    if loss.empty:
        return loss, 0
    keys = ["site", "link", "peer_site"]
    totals = loss.groupby(keys, as_index=False).agg(
        sent=("tx_packets", "sum"), dropped=("dropped_packets", "sum")
    )
    totals["ratio"] = totals["dropped"] / totals["sent"].clip(lower=1)
    top = totals[totals["dropped"] > 0].sort_values(["ratio", "dropped"], ascending=False)
    top = top.head(LOSSY_LINKS)
    return top, len(totals) - len(top)


def loss_chart(loss: pd.DataFrame, window: Window) -> go.Figure:
    """Loss % over time of the lossiest WAN links only; the others are counted."""
    title = "WAN packet loss over time"
    if loss.empty:
        return empty_figure(title, "no WAN link traffic in the window")
    top, others = lossy_links(loss)
    if top.empty:
        return empty_figure(title, f"no WAN link dropped a packet ({others} links)")
    figure = go.Figure()
    for link in top.itertuples(index=False):
        data = loss[
            (loss["site"] == link.site)
            & (loss["link"] == link.link)
            & (loss["peer_site"] == link.peer_site)
        ]
        label = f"{link.link} ({link.site} to {link.peer_site}): {100 * link.ratio:.3g} %"
        figure.add_trace(go.Scatter(x=data["bucket"], y=data["loss_pct"], name=label, mode="lines"))
    note = f"; {others} other links not drawn" if others else ""
    figure.update_layout(
        title=f"{title}: the {len(top)} lossiest links{note}",
        yaxis_title="loss %",
        height=420,
        legend={"orientation": "h", "y": -0.2},
        **LAYOUT,
    )
    figure.update_xaxes(range=window_range(window))
    return figure
