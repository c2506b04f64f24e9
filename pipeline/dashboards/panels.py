"""Panel helpers shared by the dashboards: one call per panel, sizes on a 24-column grid."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import barchart, dashboard, stat, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, VariableRefresh

from pipeline.dashboards.sources import CLICKHOUSE, PROMETHEUS, SQL

Target = cogbuilder.Builder[Any]


def _source(target: Target) -> DataSourceRef:
    return CLICKHOUSE if isinstance(target, SQL) else PROMETHEUS


def series(
    title: str, targets: list[Target], unit: str, width: int = 12, height: int = 8, **kw: Any
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .datasource(_source(targets[0]))
        .targets(targets)
        .unit(unit)
        .span(width)
        .height(height)
        .line_width(1)
        .fill_opacity(kw.get("fill", 0))
        .show_points(_never())
    )
    if "description" in kw:
        panel = panel.description(kw["description"])
    if "min" in kw:
        panel = panel.min(kw["min"])
    return panel


def grid(
    title: str, target: Target, width: int = 24, height: int = 10, description: str = ""
) -> table.Panel:
    panel = (
        table.Panel()
        .title(title)
        .datasource(_source(target))
        .with_target(target)
        .span(width)
        .height(height)
    )
    return panel.description(description) if description else panel


def figure(title: str, target: Target, unit: str, width: int = 6, height: int = 4) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .datasource(_source(target))
        .with_target(target)
        .unit(unit)
        .span(width)
        .height(height)
    )


def bars(title: str, target: Target, unit: str, width: int = 12, height: int = 8) -> Any:
    return (
        barchart.Panel()
        .title(title)
        .datasource(_source(target))
        .with_target(target)
        .unit(unit)
        .span(width)
        .height(height)
    )


def row(title: str) -> dashboard.Row:
    return dashboard.Row(title)


def site_variable(sites_sql: str) -> dashboard.QueryVariable:
    """The ``$site`` picker, listing what ``sites_sql`` returns (again when the time range
    changes: sites come and go)."""
    return (
        dashboard.QueryVariable("site")
        .label("site")
        .datasource(CLICKHOUSE)
        .query(SQL(sites_sql).build().to_json())
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
    )


def board(uid: str, title: str, description: str) -> dashboard.Dashboard:
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["megawatch"])
        .timezone("utc")
        .time("now-6h", "now")
        .refresh("30s")
        .editable()
    )


def _never() -> Any:
    from grafana_foundation_sdk.models.common import VisibilityMode

    return VisibilityMode.NEVER
