"""``megawatch report --page dynamics``: power that moves, and demand response verified.

Sections, one chart each, from the named queries: each DR event's verification (MWh
curtailed against requested, with compliance, time to target and the baseline's method
in the table below), each event's load against its target and baseline, the sites'
largest ramps and oscillation, and the fleet incidents with their timelines.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import pandas as pd
import plotly.graph_objects as go

from pipeline.analytics.report import ReportData, Section, details_table, read_window
from pipeline.analytics.report_charts import LAYOUT, empty_figure

if TYPE_CHECKING:
    from pipeline.settings import Settings
    from pipeline.store.client import Store

QUERIES = {
    "dr": "dr_verification",
    "dr_series": "dr_series",
    "dynamics": "power_dynamics",
    "incidents": "fleet_incidents",
}
DR_COLUMNS = [
    "event_id",
    "scope",
    "start_at",
    "end_at",
    "ceiling_mw",
    "reduction_pct",
    "baseline_method",
    "baseline_mw",
    "actual_mwh",
    "curtailed_mwh",
    "requested_mwh",
    "delivered_pct",
    "compliance_pct",
    "time_to_target_s",
    "coverage",
]


def read_dynamics_data(
    target: Store | Settings, since_s: int, until: datetime | None = None, site: str | None = None
) -> ReportData:
    return read_window(target, QUERIES, since_s, until, site)


def dynamics_sections(data: ReportData) -> list[Section]:
    f = data.frames
    dr = f["dr"]
    return [
        Section(
            "dr",
            "Demand response: verification",
            dr_chart(dr),
            _dr_note(dr),
            details_table(
                _flat(dr[[c for c in DR_COLUMNS if c in dr]]), "every event, as verified"
            ),
        ),
        Section("dr_load", "Load against the DR target", dr_load_chart(f["dr_series"])),
        Section(
            "ramps",
            "Ramps and oscillation per site",
            ramps_chart(f["dynamics"]),
            table_html=details_table(f["dynamics"], "every site"),
        ),
        Section(
            "incidents",
            "Fleet incidents: sites that dropped together",
            incidents_chart(f["incidents"]),
            table_html=details_table(_flat(f["incidents"]), "the timelines"),
        ),
    ]


def _flat(frame: pd.DataFrame) -> pd.DataFrame:
    """List cells (sites, timelines, days) as text, for the tables."""

    def text(value: object) -> object:
        if isinstance(value, str) or not hasattr(value, "__iter__"):
            return value
        return " | ".join(str(v) for v in value)

    return frame.apply(lambda column: column.map(text)) if not frame.empty else frame


def dr_chart(frame: pd.DataFrame) -> go.Figure:
    title = "MWh curtailed against requested, per DR event"
    if frame.empty:
        return empty_figure(title, "no demand-response event in the window")
    labels = [f"{r.event_id} ({r.scope})" for r in frame.itertuples(index=False)]
    figure = go.Figure(go.Bar(x=labels, y=frame["requested_mwh"], name="requested"))
    figure.add_trace(go.Bar(x=labels, y=frame["curtailed_mwh"], name="curtailed"))
    figure.add_trace(
        go.Scatter(
            x=labels,
            y=frame["compliance_pct"],
            name="compliance %",
            yaxis="y2",
            mode="markers",
            marker={"size": 11, "color": "#d62728"},
        )
    )
    figure.update_layout(
        title=title,
        barmode="group",
        yaxis_title="MWh",
        yaxis2={"title": "compliance %", "overlaying": "y", "side": "right", "range": [0, 105]},
        height=420,
        **LAYOUT,
    )
    return figure


def _dr_note(frame: pd.DataFrame) -> str:
    if frame.empty:
        return ""
    methods = sorted({str(m) for m in frame["baseline_method"]})
    return f"{len(frame)} events; baseline: {'; '.join(methods)}"


def dr_load_chart(frame: pd.DataFrame) -> go.Figure:
    title = "Load, target and baseline during each event (MW)"
    if frame.empty:
        return empty_figure(title, "no demand-response event measured in the window")
    figure = go.Figure()
    for event, part in frame.groupby("event_id", sort=True):
        for column, dash in (("actual_mw", None), ("target_mw", "dash"), ("baseline_mw", "dot")):
            figure.add_trace(
                go.Scatter(
                    x=part["ts"],
                    y=part[column],
                    name=f"{event} {column.removesuffix('_mw')}",
                    mode="lines",
                    line={"dash": dash} if dash else {},
                )
            )
    figure.update_layout(title=title, yaxis_title="MW", height=420, **LAYOUT)
    return figure


def ramps_chart(frame: pd.DataFrame) -> go.Figure:
    title = "Largest 1 s ramp and largest band amplitude, per site (MW)"
    if frame.empty:
        return empty_figure(title, "no power wave (telemetry.power_wave) in the window")
    top = frame.head(30)
    figure = go.Figure(go.Bar(x=top["site"], y=top["max_ramp_1s_mw"], name="1 s ramp"))
    figure.add_trace(
        go.Bar(x=top["site"], y=top["max_band_mw"], name="band amplitude", text=top["top_band"])
    )
    figure.update_layout(title=title, barmode="group", yaxis_title="MW", height=420, **LAYOUT)
    return figure


def incidents_chart(frame: pd.DataFrame) -> go.Figure:
    title = "Load lost together, per fleet incident (MW)"
    if frame.empty:
        return empty_figure(title, "no fleet incident in the window")
    labels = [f"{r.region} {r.start_at:%m-%d %H:%M:%S}" for r in frame.itertuples(index=False)]
    figure = go.Figure(
        go.Bar(x=labels, y=frame["lost_mw"], text=frame["site_count"].map("{} sites".format))
    )
    figure.update_layout(title=title, yaxis_title="MW", height=380, **LAYOUT)
    return figure
