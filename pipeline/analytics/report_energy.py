"""``megawatch report --page energy``: who used the megawatts, reconciled with the meters.

Sections, one chart each, from the named queries: energy per tenant and priority, the
jobs that used most (with their kWh per GPU-hour), site energy per hour and PUE, the
racks whose PDU metered most that no GPU accounts for, time spent capped per priority,
work per joule per served model and accelerator, and how close each power domain runs
to its cap (p99, p99.9, stranded MW; ``megawatch headroom`` says how many racks fit).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import pandas as pd
import plotly.graph_objects as go

from pipeline.analytics.report import ReportData, Section, read_window
from pipeline.analytics.report_charts import LAYOUT, empty_figure

if TYPE_CHECKING:
    from pipeline.settings import Settings
    from pipeline.store.client import Store

TOP_JOBS = 20
TOP_RACKS = 15
QUERIES = {
    "tenants": "tenant_energy",
    "jobs": "job_energy",
    "sites": "site_energy",
    "racks": "energy_reconciliation",
    "capped": "capped_time",
    "work": "work_per_joule",
    "quantiles": "power_quantiles",
}


def read_energy_data(
    target: Store | Settings, since_s: int, until: datetime | None = None, site: str | None = None
) -> ReportData:
    return read_window(target, QUERIES, since_s, until, site)


def energy_sections(data: ReportData) -> list[Section]:
    f = data.frames
    return [
        Section("tenants", "Energy per tenant and priority", tenant_chart(f["tenants"])),
        Section(
            "jobs",
            f"The {TOP_JOBS} jobs that used most",
            jobs_chart(f["jobs"]),
            _jobs_note(f["jobs"]),
        ),
        Section("site_energy", "Site energy per hour: facility, IT, GPUs", site_chart(f["sites"])),
        Section("pue", "PUE per hour", pue_chart(f["sites"])),
        Section("unattributed", "Racks: PDU energy no GPU accounts for", rack_chart(f["racks"])),
        Section("capped", "Time GPUs spent capped, per priority", capped_chart(f["capped"])),
        Section("work", "Work per joule", work_chart(f["work"])),
        Section(
            "headroom", "Headroom: p99 and p99.9 against the cap", headroom_chart(f["quantiles"])
        ),
    ]


def tenant_chart(frame: pd.DataFrame) -> go.Figure:
    title = "kWh per tenant"
    if frame.empty:
        return empty_figure(title, "no GPU energy in the window")
    frame = frame.assign(tenant=frame["tenant"].replace("", "(none)"))
    figure = go.Figure()
    for priority, part in frame.groupby("priority", sort=True):
        by_tenant = part.groupby("tenant")["kwh"].sum()
        figure.add_trace(
            go.Bar(x=by_tenant.index, y=by_tenant.values, name=str(priority) or "(none)")
        )
    figure.update_layout(title=title, barmode="stack", yaxis_title="kWh", height=420, **LAYOUT)
    return figure


def jobs_chart(frame: pd.DataFrame) -> go.Figure:
    title = "kWh per job"
    jobs = frame[frame["job"] != ""] if not frame.empty else frame
    if jobs.empty:
        return empty_figure(title, "no job in the window")
    top = jobs.nlargest(TOP_JOBS, "kwh")
    labels = [f"{r.job} ({r.site})" for r in top.itertuples(index=False)]
    figure = go.Figure(go.Bar(x=labels, y=top["kwh"], name="kWh", marker_color="#1f77b4"))
    figure.add_trace(
        go.Scatter(
            x=labels,
            y=top["kwh_per_gpu_hour"],
            name="kWh per GPU-hour",
            yaxis="y2",
            mode="markers",
            marker={"size": 10, "color": "#d62728"},
        )
    )
    figure.update_layout(
        title=title,
        yaxis_title="kWh",
        height=440,
        yaxis2={"title": "kWh per GPU-hour", "overlaying": "y", "side": "right"},
        **LAYOUT,
    )
    return figure


def _jobs_note(frame: pd.DataFrame) -> str:
    if frame.empty:
        return ""
    unknown = float(frame["unknown_kwh"].sum())
    none = float(frame.loc[frame["job"] == "", "kwh"].sum())
    return (
        f"{int((frame['job'] != '').sum())} jobs; {none:,.1f} kWh of GPU energy no job claims; "
        f"{unknown:,.1f} kWh unknown (gaps in the GPU readings)"
    )


def site_chart(frame: pd.DataFrame) -> go.Figure:
    title = "Energy per hour, every site"
    if frame.empty:
        return empty_figure(title, "no rack or GPU energy in the window")
    hours = frame.groupby("hour")[["facility_kwh", "it_kwh", "gpu_kwh"]].sum(min_count=1)
    figure = go.Figure()
    for column, name in (
        ("facility_kwh", "facility"),
        ("it_kwh", "IT (rack PDUs)"),
        ("gpu_kwh", "GPUs"),
    ):
        figure.add_trace(go.Scatter(x=hours.index, y=hours[column], name=name, mode="lines"))
    figure.update_layout(title=title, yaxis_title="kWh", height=400, **LAYOUT)
    return figure


def pue_chart(frame: pd.DataFrame) -> go.Figure:
    title = "PUE (facility / IT) per hour"
    measured = frame[frame["pue"].notna()] if not frame.empty else frame
    if measured.empty:
        return empty_figure(title, "no facility meter (telemetry.facility) in the window")
    figure = go.Figure()
    for site, part in measured.groupby("site"):
        figure.add_trace(
            go.Scatter(x=part["hour"], y=part["pue"], name=str(site), mode="lines+markers")
        )
    figure.update_layout(title=title, yaxis_title="PUE", height=380, **LAYOUT)
    return figure


def rack_chart(frame: pd.DataFrame) -> go.Figure:
    title = "Unattributed share of rack energy"
    if frame.empty:
        return empty_figure(title, "no rack PDU energy in the window")
    racks = frame.groupby(["site", "rack"], as_index=False)[["pdu_kwh", "unattributed_kwh"]].sum()
    racks = racks[racks["pdu_kwh"] > 0]
    if racks.empty:
        return empty_figure(title, "no rack PDU energy in the window")
    racks["pct"] = 100 * racks["unattributed_kwh"] / racks["pdu_kwh"]
    top = racks.nlargest(TOP_RACKS, "unattributed_kwh")
    labels = [f"{r.site}/{r.rack}" for r in top.itertuples(index=False)]
    figure = go.Figure(
        go.Bar(
            x=labels,
            y=top["pct"],
            text=top["unattributed_kwh"].round(1),
            hovertemplate="%{x}: %{y:.1f} %% (%{text} kWh)<extra></extra>",
        )
    )
    figure.update_layout(
        title=f"{title}: the {len(top)} racks with most",
        yaxis_title="% of PDU kWh",
        height=400,
        **LAYOUT,
    )
    return figure


def capped_chart(frame: pd.DataFrame) -> go.Figure:
    title = "Share of GPU-hours capped for power"
    if frame.empty:
        return empty_figure(title, "no GPU-hours in the window")
    frame = frame.assign(priority=frame["priority"].replace("", "(none)"))
    figure = go.Figure()
    for site, part in frame.groupby("site"):
        figure.add_trace(go.Bar(x=part["priority"], y=part["capped_pct"], name=str(site)))
    figure.update_layout(title=title, yaxis_title="% capped", barmode="group", height=380, **LAYOUT)
    return figure


def work_chart(frame: pd.DataFrame) -> go.Figure:
    title = "Joules per unit of work, per served model and accelerator"
    if frame.empty:
        return empty_figure(title, "no work counters (telemetry.work) in the window")
    rows = frame[frame["joules_per_work"].notna()]
    if rows.empty:
        return empty_figure(title, "no GPU energy beside the work counters")
    labels = [
        f"{r.served_model or '?'} on {r.model or r.vendor or '?'} at {r.site} ({r.counter})"
        for r in rows.itertuples(index=False)
    ]
    figure = go.Figure(go.Bar(x=rows["joules_per_work"], y=labels, orientation="h"))
    figure.update_layout(
        title=title, xaxis_title="J per unit", height=max(300, 28 * len(rows) + 120), **LAYOUT
    )
    return figure


def headroom_chart(frame: pd.DataFrame) -> go.Figure:
    title = "Per-minute peaks against the cap"
    capped = frame[frame["cap_mw"].notna()] if not frame.empty else frame
    if capped.empty:
        return empty_figure(title, "no capped site or domain in the window")
    labels = [f"{r.site}/{r.domain or '(site)'}" for r in capped.itertuples(index=False)]
    figure = go.Figure()
    for column, name in (("p99_mw", "p99"), ("p999_mw", "p99.9"), ("cap_mw", "cap")):
        figure.add_trace(go.Bar(x=labels, y=capped[column], name=name))
    figure.update_layout(
        title=f"{title} (stranded = cap - p99.9)",
        yaxis_title="MW",
        barmode="group",
        height=420,
        **LAYOUT,
    )
    return figure
