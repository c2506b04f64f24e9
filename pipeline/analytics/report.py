"""``megawatch report``: one self-contained HTML page of charts from the named queries.

Sections, one chart each, fleet first and readable at 150 sites: the ranking (the fleet
MW ledger, highest share of cap first, the whole ledger as a table below), a heatmap of
% of cap by site and hour, small multiples of the sites closest to their caps with the
cap alerts' episodes shaded, the lossiest WAN links, GPU utilization against power.
plotly.js is inlined once, so the page opens with no network.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from pipeline.settings import Settings
    from pipeline.store.client import Store

SERIES_POINTS = 1440  # at most this many points per line (a day of minutes)
SCATTER_POINTS = 96  # per site and GPU model in the utilization chart


@dataclass
class ReportData:
    """What the report shows, as the named queries return it."""

    start: datetime
    end: datetime
    site: str | None
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    figure: go.Figure
    note: str = ""
    table_html: str = ""


def read_report_data(
    target: Store | Settings, since_s: int, until: datetime | None = None, site: str | None = None
) -> ReportData:
    """Run the report's named queries on ``target`` (an open store, or the settings)."""
    from datetime import timedelta

    from pipeline.store.named import named_query

    end = until or datetime.now(UTC)
    window: dict[str, Any] = {"since_s": since_s, "until": end}
    scope = {"site": site or ""}
    # the rollups are per minute: at most a day of minutes per series, coarser for scatter
    bucket = {"bucket_s": max(60, since_s // SERIES_POINTS // 60 * 60)}
    coarse = {"bucket_s": max(60, since_s // SCATTER_POINTS // 60 * 60)}
    queries: dict[str, tuple[str, dict[str, Any]]] = {
        "series": ("site_headroom", {**scope, **bucket}),
        "episodes": ("alert_history", scope),
        "warn": ("sites_above_warning", {}),
        "ledger": ("fleet_ledger", {}),
        "loss": ("link_loss_over_time", {**scope, **bucket, "link_class": "wan"}),
        "gpus": ("gpu_util_vs_power", {**scope, **coarse}),
    }
    frames = {
        key: named_query(target, name, **params, **window)
        for key, (name, params) in queries.items()
    }
    return ReportData(end - timedelta(seconds=since_s), end, site, frames)


def read_window(
    target: Store | Settings,
    queries: dict[str, str],
    since_s: int,
    until: datetime | None = None,
    site: str | None = None,
) -> ReportData:
    """Run named queries (frame key -> query name) that all take the window and the site
    (``""``: every site) on ``target`` (an open store, or the settings)."""
    from datetime import timedelta

    from pipeline.store.named import named_query

    end = until or datetime.now(UTC)
    params = {"since_s": since_s, "until": end, "site": site or ""}
    frames = {key: named_query(target, name, **params) for key, name in queries.items()}
    return ReportData(end - timedelta(seconds=since_s), end, site, frames)


def build_sections(data: ReportData) -> list[Section]:
    """The page, fleet first: ranking, heatmap, the top sites, links, GPUs. Every chart
    stays readable at 150 sites: they show the top N and count the rest."""
    import pandas as pd

    from pipeline.analytics.report_charts import ledger_chart, utilization_chart
    from pipeline.analytics.report_fleet import (
        MULTIPLES,
        loss_chart,
        share_heatmap,
        site_multiples,
    )

    f = data.frames
    ratios = {
        str(r.site): float(r.warn_ratio)
        for r in f["warn"].itertuples(index=False)
        if pd.notna(r.warn_ratio)
    }
    sites = _sites_by_share(f["series"])
    note = (
        f"{len(sites)} sites; the {MULTIPLES} closest to their caps are drawn"
        if len(sites) > MULTIPLES
        else ""
    )
    window = (data.start, data.end)  # every time axis spans the report's window
    power = site_multiples(f["series"], f["episodes"], ratios, sites, window)
    ledger = f["ledger"]
    return [
        Section(
            "ledger",
            "Ranking: every site's power against its cap",
            ledger_chart(ledger),
            _ledger_note(ledger),
            table_html=_details(_table(ledger), f"the ledger: {len(ledger)} rows"),
        ),
        Section("heatmap", "% of cap by site over time", share_heatmap(f["series"], sites, window)),
        Section("power", "Site power against cap", power, note),
        Section("loss", "WAN loss over time", loss_chart(f["loss"], window)),
        Section("gpus", "GPU utilization against power", utilization_chart(f["gpus"])),
    ]


def _ledger_note(ledger: pd.DataFrame) -> str:
    """How many sites are at or over their caps now: by each site's latest evaluated
    power, the number its cap alert judges (the ledger's now_mw), and how old that is."""
    from pipeline.analytics.ranking import duration_text

    sites = ledger[ledger["level"] == "site"] if not ledger.empty else ledger
    if sites.empty:
        return ""
    over = int((sites["pct_of_cap"] >= 100).sum())
    oldest = float(sites["age_s"].max())
    return (
        f"{len(sites)} sites, {over} at or over their caps now (each site's latest evaluated "
        f"power, as its cap alert judges it; the oldest is {duration_text(oldest)} old); bars "
        "end at the larger of power now and the cap, the tick is the peak"
    )


def _sites_by_share(series: pd.DataFrame) -> list[str]:
    """Sites, closest to their cap first (peak / cap), uncapped ones last by peak."""
    if series.empty:
        return []
    peaks = series.groupby("site").agg(peak=("peak_mw", "max"), cap=("cap_mw", "max"))
    peaks["share"] = peaks["peak"] / peaks["cap"]
    ordered = peaks.sort_values(["share", "peak"], ascending=False, na_position="last")
    return [str(site) for site in ordered.index]


def details_table(frame: pd.DataFrame, summary: str) -> str:
    """``frame`` as a table folded under ``summary`` (the other pages' tables)."""
    return _details(_table(frame), summary)


def _details(table_html: str, summary: str) -> str:
    if not table_html:
        return ""
    return f"<details><summary>{html.escape(summary)}</summary>{table_html}</details>"


def _table(frame: pd.DataFrame) -> str:
    """The frame as a plain HTML table (times in UTC to the minute, NULL as blank)."""
    if frame.empty:
        return ""
    head = "".join(f"<th>{html.escape(str(name))}</th>" for name in frame.columns)
    rows = [
        "<tr>" + "".join(f"<td>{html.escape(_cell(value))}</td>" for value in row) + "</tr>"
        for row in frame.itertuples(index=False)
    ]
    return f'<table class="ledger"><tr>{head}</tr>{"".join(rows)}</table>'


def _cell(value: Any) -> str:
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, (pd.Timestamp, datetime)):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def render_html(data: ReportData, sections: list[Section]) -> str:
    """The whole page: plotly.js inlined with the first chart, none after."""
    import plotly.io as pio

    scope = f"site {data.site}" if data.site else "the fleet"
    span = f"{data.start:%Y-%m-%d %H:%M} - {data.end:%Y-%m-%d %H:%M} UTC"
    parts = [_HEAD.format(title=html.escape(f"megawatch report: {scope}, {span}"))]
    parts.append(
        f"<h1>megawatch report: {html.escape(scope)}</h1><p class=span>{span}, "
        f"generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC</p>"
    )
    for number, section in enumerate(sections):
        chart = pio.to_html(
            section.figure,
            full_html=False,
            include_plotlyjs=number == 0,
            config={"displaylogo": False, "responsive": True},
        )
        note = f"<p class=note>{html.escape(section.note)}</p>" if section.note else ""
        parts.append(
            f'<section id="{section.key}"><h2>{html.escape(section.title)}</h2>'
            f"{note}{chart}{section.table_html}</section>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


_HEAD = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }}
section {{ margin: 2.5em 0; }} h2 {{ border-bottom: 1px solid #ddd; }}
.span, .note {{ color: #666; }}
table.ledger {{ border-collapse: collapse; margin-top: 1em; font-size: 90%; }}
table.ledger th, table.ledger td {{ padding: 0.2em 0.8em; text-align: right; }}
table.ledger tr:nth-child(even) {{ background: #f5f5f5; }}
</style></head><body>"""


PNG_HELP = (
    "--png needs plotly's image exporter and a browser for it: pip install "
    "'megawatch[png]' (kaleido) and a Chrome or Chromium (e.g. apt-get install chromium)"
)


def write_png(figure: go.Figure, path: Path, width: int = 1200) -> None:
    """One chart as a PNG image (kaleido drives a local Chrome/Chromium; no network)."""
    try:
        import kaleido  # noqa: F401  (plotly imports it lazily; fail early and clearly)
    except ImportError:
        raise ConfigError(PNG_HELP) from None
    height = int(figure.layout.height or 500)
    try:
        figure.write_image(str(path), format="png", width=width, height=height)
    except OSError as exc:
        raise ConfigError(f"--png {path}: cannot write ({exc.strerror or exc})") from None
    except Exception as exc:  # kaleido's own errors (no browser found, browser crashed)
        raise ConfigError(
            f"{PNG_HELP}; the export failed: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:200] if str(exc) else ''}"
        ) from None
