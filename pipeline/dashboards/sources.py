"""The two data sources and the query types of their panels.

The foundation SDK has no builder for the ClickHouse plugin's query, so
:class:`ClickHouseQuery` is one: the JSON the plugin (grafana-clickhouse-datasource 4.x)
saves for a SQL-editor query. Its SQL may use the plugin's macros ($__timeFilter,
$__timeInterval, $__fromTime, $__toTime) and the dashboard variable ``${site}``.
"""

from __future__ import annotations

from typing import Literal

from grafana_foundation_sdk.builders import prometheus
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import DataSourceRef

CLICKHOUSE = DataSourceRef(type_val="grafana-clickhouse-datasource", uid="megawatch-clickhouse")
PROMETHEUS = DataSourceRef(type_val="prometheus", uid="megawatch-prometheus")
#: the plugin's query formats
FORMATS = {"time_series": 0, "table": 1}


class ClickHouseQuery(cogvariants.Dataquery):
    def __init__(self, sql: str, fmt: Literal["time_series", "table"], ref_id: str) -> None:
        self.sql = sql.strip()
        self.fmt = fmt
        self.ref_id = ref_id

    def to_json(self) -> dict[str, object]:
        return {
            "refId": self.ref_id,
            "datasource": {"type": CLICKHOUSE.type_val, "uid": CLICKHOUSE.uid},
            "editorType": "sql",
            "format": FORMATS[self.fmt],
            "queryType": "timeseries" if self.fmt == "time_series" else "table",
            "rawSql": self.sql,
        }


class SQL(cogbuilder.Builder[ClickHouseQuery]):
    """A ClickHouse SQL target: ``SQL("SELECT ...")`` or ``SQL(..., "time_series")``."""

    def __init__(
        self, sql: str, fmt: Literal["time_series", "table"] = "table", ref_id: str = "A"
    ) -> None:
        self.query = ClickHouseQuery(sql, fmt, ref_id)

    def build(self) -> ClickHouseQuery:
        return self.query


def promql(expr: str, legend: str, ref_id: str = "A") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref_id)
